"""Sign-in routes: the parts of allauth Anke uses, no more. There is no sign-up, e-mail
management or e-mailed password reset (administrators create accounts and reset passwords);
allauth's social sign-up page answers that sign-up is closed."""

from allauth.account import views as account
from allauth.urls import build_provider_urlpatterns
from django.db import transaction
from django.urls import URLResolver, include, path

from anke.accounts import views


def _atomic_callbacks(patterns):
    """A provider's callback connects an identity to a user (allauth saves the user) and the
    audit trail records it: one transaction, as every change in Anke is."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            _atomic_callbacks(pattern.url_patterns)
        elif pattern.name and pattern.name.endswith("_callback"):
            pattern.callback = transaction.atomic(pattern.callback)
    return patterns


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
    # Single sign-on: connected identities, and each provider's sign-in and callback.
    path("account/sso/", include("allauth.socialaccount.urls")),
    path("account/", include(_atomic_callbacks(build_provider_urlpatterns()))),
]
