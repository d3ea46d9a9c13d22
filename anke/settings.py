"""Anke settings, read from the environment (twelve-factor) with an embedded default.

With no environment at all Anke runs on SQLite under ``var/`` bound to loopback. Production sets
``DATABASE_URL``, ``REDIS_URL``, ``ANKE_SECRET_KEY``, ``ANKE_ALLOWED_HOSTS`` and ``ANKE_HTTPS``.
"""

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("ANKE_VAR_DIR", default=str(BASE_DIR / "var")))
DEBUG = env.bool("ANKE_DEBUG", default=False)
HTTPS = env.bool("ANKE_HTTPS", default=False)
PRODUCTION = env.bool("ANKE_PRODUCTION", default=False)


def _secret_key() -> str:
    """The signing key: from the environment, else a 0600 file made at first start.

    In production a missing key refuses to start rather than inventing one per process.
    """
    if key := env.str("ANKE_SECRET_KEY", default=""):
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("ANKE_SECRET_KEY must be set when ANKE_PRODUCTION is on.")
    path = VAR_DIR / "secret_key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env.list("ANKE_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
# How many reverse proxies in front of Anke may be trusted to append to X-Forwarded-For.
TRUSTED_PROXY_HOPS = env.int("ANKE_TRUSTED_PROXY_HOPS", default=0)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "csp",
    "anke.core",
    "anke.audit",
    "anke.encryption",
    "anke.access",
    "anke.accounts",
    "anke.customers",
    "anke.sales",
    "anke.service",
    "anke.analytics",
    "anke.web",
    # After Anke's apps, so Anke's templates for allauth's pages win.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.dingtalk",
    "allauth.socialaccount.providers.feishu",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "anke.core.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "anke.accounts.middleware.SessionTimeoutMiddleware",
    "anke.accounts.middleware.MfaEnforcementMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "anke.web.middleware.DomainErrorMiddleware",
]

ROOT_URLCONF = "anke.urls"
WSGI_APPLICATION = "anke.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "account_login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "anke.web.context_processors.navigation",
                "anke.access.grant_views.access_navigation",
            ],
        },
    },
]

# --- database -----------------------------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "anke.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at BEGIN so two
    # writers queue instead of failing with "database is locked" half-way through a transaction.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        # secure_delete zeroes freed pages, so plaintext replaced by ciphertext (or rows
        # deleted) does not linger in the file.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA secure_delete=ON;"
        ),
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache: shared by every worker, never per-process memory --------------------------------------
if redis_url := env.str("REDIS_URL", default=""):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": redis_url, "KEY_PREFIX": "anke"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache",
                          "LOCATION": "anke_cache"}}

# --- identity -----------------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# No composition rules and no forced change (NIST SP 800-63B); the minimum length depends on
# whether the user's roles require a second factor (accounts.passwords).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "anke.accounts.passwords.RoleAwareLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]

# --- sign-in (django-allauth, docs/authentication.md) ---------------------------------------------
# Accounts are made by administrators (`anke createuser`, /users/): no sign-up, no e-mail flows.
ACCOUNT_ADAPTER = "anke.accounts.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_REAUTHENTICATION_TIMEOUT = env.int("ANKE_REAUTHENTICATION_SECONDS", default=300)
# Reveal, role, grant and user changes need a proof of identity at most this old (step-up).
STEP_UP_SECONDS = env.int("ANKE_STEP_UP_MINUTES", default=5) * 60
# Failed passwords are counted in the shared cache (never per process) and cooled off by
# accounts.throttle, whose pauses grow with every further failure (AccountAdapter replaces
# allauth's check). Wrong second-factor codes meet allauth's "login_failed" limit: 5 per user per
# 5 minutes and 10 per IP per minute, also in the shared cache.
ACCOUNT_RATE_LIMITS = {"login_failed": "10/m/ip,5/300s/key"}
MFA_ADAPTER = "anke.accounts.adapters.MfaAdapter"

# --- single sign-on (docs/authentication.md#single-sign-on) -----------------------------------
# An SSO identity signs in only the Anke account it was connected to, by that signed-in person:
# never a new account, never matched by e-mail. Providers come from the environment as JSON:
# ANKE_OIDC_PROVIDERS='[{"id": "corp", "name": "Corp SSO", "server_url": "https://idp/...",
#   "client_id": "…", "secret": "…", "trust_mfa": true}]', and ANKE_DINGTALK / ANKE_FEISHU
# as '{"client_id": "…", "secret": "…"}'.
SOCIALACCOUNT_ADAPTER = "anke.accounts.adapters.SocialAccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False
SOCIALACCOUNT_LOGIN_ON_GET = False  # a sign-in starts with a POST (CSRF-checked), not a link
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {"OAUTH_PKCE_ENABLED": True, "APPS": [
        {"provider_id": app["id"], "name": app.get("name", app["id"]),
         "client_id": app["client_id"], "secret": app.get("secret", ""),
         "settings": {"server_url": app["server_url"], "trust_mfa": bool(app.get("trust_mfa"))}}
        for app in env.json("ANKE_OIDC_PROVIDERS", default=[])]},
    **{provider: {"APPS": [{"client_id": app["client_id"], "secret": app["secret"]}]}
       for provider, app in (("dingtalk", env.json("ANKE_DINGTALK", default={})),
                             ("feishu", env.json("ANKE_FEISHU", default={}))) if app},
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True  # a passkey alone signs in: it is possession and a PIN/biometric
MFA_WEBAUTHN_USER_VERIFICATION = "required"
MFA_TOTP_TOLERANCE = 0  # a code is good for its own 30 seconds only
MFA_TOTP_ISSUER = env.str("ANKE_MFA_ISSUER", default="Anke")
MFA_RECOVERY_CODE_COUNT = 10
# allauth would write every request's time to the session list (five queries a request);
# accounts.middleware writes it at most once a minute instead.
USERSESSIONS_TRACK_ACTIVITY = False
USERSESSIONS_ADAPTER = "anke.accounts.adapters.UserSessionsAdapter"
# Sessions end after this long without a request, and this long after sign-in whatever happens.
SESSION_IDLE_SECONDS = env.int("ANKE_SESSION_IDLE_MINUTES", default=30) * 60
SESSION_MAX_SECONDS = env.int("ANKE_SESSION_MAX_HOURS", default=12) * 3600
if not 60 <= SESSION_IDLE_SECONDS <= SESSION_MAX_SECONDS:
    raise ImproperlyConfigured("ANKE_SESSION_IDLE_MINUTES must be at least 1 and no longer than "
                               "ANKE_SESSION_MAX_HOURS.")
SESSION_COOKIE_AGE = SESSION_MAX_SECONDS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
if HTTPS:
    SESSION_COOKIE_NAME = "__Host-anke_session"
    CSRF_COOKIE_NAME = "__Host-anke_csrf"
    SECURE_HSTS_SECONDS = 63072000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("ANKE_HSTS_PRELOAD", default=False)
    SECURE_SSL_REDIRECT = env.bool("ANKE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_HOPS else None
# Preloading commits the whole domain to HTTPS for years: the operator's choice, not ours.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
CSRF_TRUSTED_ORIGINS = env.list("ANKE_CSRF_TRUSTED_ORIGINS", default=[])

# --- headers ------------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

# --- i18n ---------------------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "anke" / "locale"]
USE_I18N = True
TIME_ZONE = env.str("ANKE_TIME_ZONE", default="Asia/Shanghai")
USE_TZ = True
# --- encryption (docs/encryption.md) --------------------------------------------------------------
# The key file holds the master keys and blind-index keys, outside the database and its backups.
# Named explicitly, it must exist (a mounted secret); the default is created at first start.
_named_key_file = env.str("ANKE_MASTER_KEY_FILE", default="")
MASTER_KEY_FILE = _named_key_file or str(VAR_DIR / "keys" / "master.json")
MASTER_KEY_FILE_CREATE = not _named_key_file
# Bits kept of each blind-index HMAC: about 16 leaves a handful of candidates per lookup at
# 10^5–10^6 customers, too few bits to tell two people apart from the index alone.
BLIND_INDEX_BITS = env.int("ANKE_BLIND_INDEX_BITS", default=16)
if not 8 <= BLIND_INDEX_BITS <= 32:
    raise ImproperlyConfigured("ANKE_BLIND_INDEX_BITS must be between 8 and 32.")

# Default region for phone numbers written without a country code.
PHONE_DEFAULT_REGION = env.str("ANKE_PHONE_REGION", default="CN")

# --- audit trail (docs/audit.md) -----------------------------------------------------------------
# The checkpoint signing key lives outside the database; only the sealer opens it.
AUDIT_SIGNING_KEY_FILE = env.str("ANKE_AUDIT_SIGNING_KEY_FILE",
                                 default=str(VAR_DIR / "keys" / "audit-signing.json"))
# Every signed checkpoint is also appended here (keep it on another disk or ship it off).
AUDIT_CHECKPOINT_FILE = env.str("ANKE_AUDIT_CHECKPOINT_FILE",
                                default=str(VAR_DIR / "audit" / "checkpoints.jsonl"))
AUDIT_ORIGIN = env.str("ANKE_AUDIT_ORIGIN", default="anke")
# Sealed events as JSON lines for a SIEM: a file and/or syslog ("/dev/log", "host:514").
AUDIT_FORWARD_FILE = env.str("ANKE_AUDIT_FORWARD_FILE", default="")
AUDIT_SYSLOG = env.str("ANKE_AUDIT_SYSLOG", default="")
# China's Cybersecurity Law asks for network logs kept at least six months.
AUDIT_RETENTION_DAYS = env.int("ANKE_AUDIT_RETENTION_DAYS", default=3 * 365)
if AUDIT_RETENTION_DAYS < 183:
    raise ImproperlyConfigured("ANKE_AUDIT_RETENTION_DAYS must be at least 183 (six months).")
AUDIT_SEAL_INTERVAL = env.float("ANKE_AUDIT_SEAL_INTERVAL", default=2.0)

# --- temporary grants and break-glass (docs/grants-and-reviews.md) -------------------------------
ANKE_GRANT_MAX_DAYS = env.int("ANKE_GRANT_MAX_DAYS", default=30)
ANKE_BREAK_GLASS_MAX_MINUTES = env.int("ANKE_BREAK_GLASS_MAX_MINUTES", default=240)
if ANKE_GRANT_MAX_DAYS < 1 or ANKE_BREAK_GLASS_MAX_MINUTES < 1:
    raise ImproperlyConfigured("ANKE_GRANT_MAX_DAYS and ANKE_BREAK_GLASS_MAX_MINUTES must be "
                               "at least 1.")

# --- revealing masked fields (docs/roles.md): at most this many reveals per user per hour -----
REVEALS_PER_HOUR = env.int("ANKE_REVEALS_PER_HOUR", default=30)
if REVEALS_PER_HOUR < 1:
    raise ImproperlyConfigured("ANKE_REVEALS_PER_HOUR must be at least 1.")

# --- static files -------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
                    if not DEBUG else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- API ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "anke.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "anke.core.api.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("ANKE_API_RATE_USER", default="1200/min"),
        "anon": env.str("ANKE_API_RATE_ANON", default="60/min"),
    },
    "EXCEPTION_HANDLER": "anke.core.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Anke API",
    "DESCRIPTION": "Customer data through the same access policy and audit trail as the web UI.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- logging: no personal data, ever; request ids tie lines to audit events ----------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("ANKE_LOG_LEVEL", default="WARNING")},
}
