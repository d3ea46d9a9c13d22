from django.urls import path

from anke.sales import views

app_name = "sales"
urlpatterns = [
    path("board/", views.board, name="board"),
    path("tasks/", views.board, name="tasks"),
    path("orders/", views.board, name="orders"),
    path("customers/<uuid:customer_pk>/activities/new/", views.board, name="activity_create"),
    path("customers/<uuid:customer_pk>/deals/new/", views.board, name="deal_create"),
    path("customers/<uuid:customer_pk>/orders/new/", views.board, name="order_create"),
    path("customers/<uuid:customer_pk>/tasks/new/", views.board, name="task_create"),
    path("activities/<uuid:pk>/edit/", views.board, name="activity_edit"),
    path("deals/<uuid:pk>/edit/", views.board, name="deal_edit"),
    path("orders/<uuid:pk>/edit/", views.board, name="order_edit"),
    path("tasks/<uuid:pk>/edit/", views.board, name="task_edit"),
]
