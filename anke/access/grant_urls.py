"""Routes of the grant, break-glass and access-review pages, under ``/access/``."""

from django.urls import path

from anke.access import grant_views as views

app_name = "access"
urlpatterns = [
    path("grants/", views.grant_list, name="grants"),
    path("grants/new/", views.grant_create, name="grant_create"),
    path("grants/<int:pk>/revoke/", views.grant_revoke, name="grant_revoke"),
    path("break-glass/", views.grant_break_glass, name="break_glass"),
    path("reviews/", views.review_list, name="reviews"),
    path("reviews/new/", views.review_open, name="review_open"),
    path("reviews/mine/", views.my_reviews, name="my_reviews"),
    path("reviews/<int:pk>/", views.review_detail, name="review"),
    path("reviews/<int:pk>/close/", views.review_close, name="review_close"),
    path("reviews/items/<int:pk>/decide/", views.review_decide, name="review_decide"),
]
