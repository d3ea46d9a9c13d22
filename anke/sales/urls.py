"""Sales routes: the pipeline board, tasks, orders, and the records added to a customer."""

from django.urls import path

from anke.sales import views

app_name = "sales"
urlpatterns = [
    path("board/", views.board, name="board"),
    path("deals/<uuid:pk>/move/", views.deal_move, name="deal_move"),
    path("tasks/", views.task_list, name="tasks"),
    path("orders/", views.order_list, name="orders"),
    path("customers/<uuid:customer_pk>/activities/new/", views.activity_create,
         name="activity_create"),
    path("customers/<uuid:customer_pk>/deals/new/", views.deal_create, name="deal_create"),
    path("customers/<uuid:customer_pk>/orders/new/", views.order_create, name="order_create"),
    path("customers/<uuid:customer_pk>/tasks/new/", views.task_create, name="task_create"),
    path("activities/<uuid:pk>/edit/", views.activity_edit, name="activity_edit"),
    path("activities/<uuid:pk>/delete/", views.activity_delete, name="activity_delete"),
    path("deals/<uuid:pk>/edit/", views.deal_edit, name="deal_edit"),
    path("deals/<uuid:pk>/delete/", views.deal_delete, name="deal_delete"),
    path("orders/<uuid:pk>/edit/", views.order_edit, name="order_edit"),
    path("orders/<uuid:pk>/delete/", views.order_delete, name="order_delete"),
    path("tasks/<uuid:pk>/edit/", views.task_edit, name="task_edit"),
    path("tasks/<uuid:pk>/done/", views.task_done, name="task_done"),
    path("tasks/<uuid:pk>/delete/", views.task_delete, name="task_delete"),
]
