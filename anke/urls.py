from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("anke.api_urls")),
    path("audit/", include("anke.audit.urls")),
    path("access/", include("anke.access.grant_urls")),
    path("users/", include("anke.accounts.urls")),
    path("", include("anke.accounts.auth_urls")),
    path("roles/", include("anke.access.urls")),
    path("", include("anke.web.urls")),
]
