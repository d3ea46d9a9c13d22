from django.urls import include, path

from anke.customers import urls as customer_urls
from anke.web import views

customer_patterns = [
    path("<uuid:pk>/", views.customer_detail, name="detail"),
    *customer_urls.urlpatterns,
]

urlpatterns = [
    path("", views.home, name="home"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("customers/", include((customer_patterns, customer_urls.app_name))),
    path("sales/", include("anke.sales.urls")),
    path("service/", include("anke.service.urls")),
]
