"""A real OpenID Connect provider on loopback for the SSO tests: django-oauth-toolkit in a Django
project of its own, run as its own process (``python -m tests.oidc_provider.server PORT DIR
REDIRECT_URI``). It has one person, ``alice`` / ``PASSWORD``, and one confidential client that
must use PKCE; its ID tokens say ``amr: ["pwd", "otp"]`` (the provider checked a second
factor). It prints ``ready`` once it serves."""

import sys
from pathlib import Path

import django
from django.conf import settings

CLIENT_ID = "anke-tests"
CLIENT_SECRET = "anke-tests-secret-0123456789"  # noqa: S105 - a loopback test provider's
USERNAME, PASSWORD = "alice", "alice's long provider password"  # noqa: S105


def configure(port: int, directory: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    settings.configure(
        DEBUG=False, SECRET_KEY="oidc-provider-tests-only-" + "x" * 40,
        ALLOWED_HOSTS=["127.0.0.1", "localhost"], ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                        "django.contrib.sessions", "oauth2_provider"],
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                    "django.middleware.csrf.CsrfViewMiddleware",
                    "django.contrib.auth.middleware.AuthenticationMiddleware"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                               "NAME": str(directory / "provider.sqlite3")}},
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                    "APP_DIRS": True, "OPTIONS": {"context_processors": [
                        "django.template.context_processors.request"]}}],
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        LOGIN_URL="/login/", USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        OAUTH2_PROVIDER={"OIDC_ENABLED": True, "OIDC_RSA_PRIVATE_KEY": key,
                         "PKCE_REQUIRED": True, "OAUTH2_VALIDATOR_CLASS": f"{__name__}.Validator",
                         "SCOPES": {"openid": "OpenID Connect", "profile": "Profile",
                                    "email": "E-mail"}},
    )


def validator_class():
    from oauth2_provider.oauth2_validators import OAuth2Validator

    class Validator(OAuth2Validator):
        # Claims reach the ID token only when mapped to a granted scope.
        oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "amr": "openid",
                            "preferred_username": "profile"}

        def get_additional_claims(self, request):
            return {"amr": ["pwd", "otp"], "preferred_username": request.user.username}

    return Validator


def login_page(request):
    """A bare sign-in form: enough for a test to post the credentials."""
    from django.contrib.auth import authenticate, login
    from django.http import HttpResponse, HttpResponseRedirect
    from django.middleware.csrf import get_token
    from django.utils.http import url_has_allowed_host_and_scheme

    next_url = request.GET.get("next") or request.POST.get("next") or "/"
    if request.method == "POST":
        user = authenticate(request, username=request.POST.get("username"),
                            password=request.POST.get("password"))
        if user is not None and url_has_allowed_host_and_scheme(next_url, None):
            login(request, user)
            return HttpResponseRedirect(next_url)
    return HttpResponse(
        f'<form method="post"><input name="csrfmiddlewaretoken" value="{get_token(request)}">'
        f'<input name="username"><input name="password"><input name="next" value="{next_url}">'
        "</form>")


urlpatterns: list = []


def main(argv: list[str]) -> None:
    port, directory, redirect_uri = int(argv[0]), Path(argv[1]), argv[2]
    configure(port, directory)
    django.setup()
    global Validator, urlpatterns
    Validator = validator_class()
    from django.urls import include, path

    urlpatterns = [path("login/", login_page), path("o/", include("oauth2_provider.urls"))]

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user(USERNAME, password=PASSWORD)
    Application.objects.create(
        user=user, name="Anke", client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        client_type=Application.CLIENT_CONFIDENTIAL, skip_authorization=True,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uri, algorithm=Application.RS256_ALGORITHM)

    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", port, get_wsgi_application(), handler_class=Quiet)
    print("ready", flush=True)
    server.serve_forever()


Validator = None

if __name__ == "__main__":
    main(sys.argv[1:])
