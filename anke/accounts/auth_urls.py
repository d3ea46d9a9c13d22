"""Sign-in routes: the parts of allauth Anke uses, no more. There is no sign-up, e-mail
management or e-mailed password reset (administrators create accounts and reset passwords)."""

from allauth.account import views as account
from django.urls import include, path

from anke.accounts import views

urlpatterns = [
    path("login/", account.login, name="account_login"),
    path("logout/", account.logout, name="account_logout"),
    path("account/inactive/", account.account_inactive, name="account_inactive"),
    path("account/reauthenticate/", account.reauthenticate, name="account_reauthenticate"),
    path("account/password/", account.password_change, name="account_change_password"),
    path("account/password/set/", account.password_set, name="account_set_password"),
    path("account/2fa/", include("allauth.mfa.urls")),
    path("account/sessions/", include("allauth.usersessions.urls")),
    path("account/sign-ins/", views.sign_in_history, name="sign_in_history"),
]
