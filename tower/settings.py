"""Tower settings. Everything configurable comes from the environment.

| variable | default | meaning |
|---|---|---|
| TOWER_DATA_DIR | ./data | where the SQLite metadata DB and the generated keys live |
| TOWER_DATABASE_URL | sqlite:///<TOWER_DATA_DIR>/tower.db | metadata DB: sqlite:////abs/path.db or mysql://user:pass@host:port/db |
| TOWER_BROKER_URL | TOWER_REDIS_URL, else redis://127.0.0.1:6379/0 | Celery broker |
| TOWER_SECRET_KEY | generated into TOWER_DATA_DIR/secret.key | Django's SECRET_KEY |
| TOWER_ENCRYPTION_KEY | generated into TOWER_DATA_DIR/encryption.key | Fernet key(s), comma separated (first encrypts, all decrypt) for secrets at rest |
| TOWER_DEBUG | 0 | Django DEBUG |
| TOWER_ALLOWED_HOSTS | 127.0.0.1,localhost | comma separated |
| TOWER_LOG_LEVEL | INFO | root log level (changeable at run time through /api/v1/log) |
| TOWER_WORKER_NAME | hostname | the name a Celery worker registers under in `waves` |
| TOWER_LOCAL_LOGIN | 1 | offer username/password login at /login/ (0 turns it off when SSO is used) |
| TOWER_LOGIN_MAX_FAILURES | 5 | failed logins per username (and per IP, x4) before the login is locked |
| TOWER_LOGIN_LOCK_MINUTES | 15 | how long failures are remembered and a lock lasts |
| TOWER_OIDC_CLIENT_ID | (unset: OIDC off) | OIDC client id; OIDC login is on when this and the endpoints are set |
| TOWER_OIDC_CLIENT_SECRET | | OIDC client secret (also the HS256 key of the id token) |
| TOWER_OIDC_AUTHORIZATION_URL, TOWER_OIDC_TOKEN_URL, TOWER_OIDC_USERINFO_URL | | OIDC provider endpoints |
| TOWER_OIDC_JWKS_URL | | JWKS endpoint, for RS256/ES256 providers |
| TOWER_OIDC_SIGN_ALGO | HS256 | id token signature algorithm |
| TOWER_OIDC_SCOPES | openid email profile | scopes requested |
| TOWER_OIDC_LOGOUT_URL | | provider logout URL to send the browser to after /logout/ |
| TOWER_SSO_VERIFY_URL | (unset: ticket SSO off) | BinLake-style ticket SSO: URL that verifies a ticket and answers JSON {erp, email, orgName} |
| TOWER_SSO_VERIFY_METHOD | GET | GET (ticket as query parameter) or POST (form field) |
| TOWER_SSO_TICKET_PARAM | ticket | name of the ticket parameter sent to the verify URL |
| TOWER_SSO_COOKIE | sso.jd.com | name of the cookie holding the SSO ticket |
| TOWER_SSO_LOGIN_URL | | where unauthenticated browsers are sent (a return URL is appended) |
| TOWER_SSO_LOGOUT_URL | | where /logout/ sends the browser to end the SSO session |
| TOWER_SSO_RETURN_PARAM | ReturnUrl | name of the return URL parameter of the SSO login/logout URLs |
| TOWER_WORKER_CONCURRENCY | 8 | Celery worker processes per host (dumps it may hold plus short tasks) |
| TOWER_FAST_DECODER | 1 | decode rows with the generated per-table decoders (0: the library's decoder) |
| TOWER_LEASE_TTL | 8 | seconds a dump leader's lease lives without renewal (a candidate takes over after it) |
| TOWER_SOURCE_NETWORKS | (unset: any) | comma separated CIDRs; Tower connects to a source only at an address inside them (docs/architecture.md) |
| TOWER_DUMP_STALL_LIMIT | 120 | seconds a dump loop may be held (e.g. by a target that stops answering) while its lease is still renewed |
"""
import os
import socket
from pathlib import Path

import dj_database_url

from tower.keys import load_or_create_key
from tower.services_env import load_into_environ

BASE_DIR = Path(__file__).resolve().parent.parent

# The local servers started by `make services` are the defaults for anything not set explicitly.
load_into_environ()


def env(name, default=None):
    return os.environ.get(name, default)


def env_bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


DATA_DIR = Path(env("TOWER_DATA_DIR", BASE_DIR / "data")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env("TOWER_SECRET_KEY") or load_or_create_key(DATA_DIR / "secret.key", "django")
ENCRYPTION_KEYS = (env("TOWER_ENCRYPTION_KEY") or load_or_create_key(DATA_DIR / "encryption.key", "fernet")).split(",")
DEBUG = env_bool("TOWER_DEBUG")
ALLOWED_HOSTS = [h.strip() for h in env("TOWER_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h.strip()]
WORKER_NAME = env("TOWER_WORKER_NAME", socket.gethostname())

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "django_tables2",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI / ReDoc assets served locally, no CDN
    "bootstrap4",
    "console",
    "workers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from the web server itself (gunicorn has no static handler); DEBUG or not.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tower.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "tower.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env("TOWER_DATABASE_URL", f"sqlite:///{DATA_DIR / 'tower.db'}"),
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Workers and the web server write the same file: wait on locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not :memory:, so worker processes started by tests see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test_tower.db")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    DATABASES["default"]["OPTIONS"] = {"charset": "utf8mb4"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"  # filled by `manage.py collectstatic`, served by WhiteNoise
# WhiteNoise indexes STATIC_ROOT when a process starts and warns when it is missing (tests, a server started
# before collectstatic); with DEBUG it serves straight from STATICFILES_DIRS and the apps (its use_finders).
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# --- console authentication (console/auth/) -----------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "console.auth.oidc.TowerOIDCBackend",  # inert unless the OIDC_* settings below are set
    "console.auth.ticket.TicketSSOBackend",  # inert unless TOWER_SSO_VERIFY_URL is set
]
MIDDLEWARE += [
    "console.auth.middleware.TicketSSOMiddleware",
    "console.auth.middleware.ConsoleLoginRequiredMiddleware",
]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tower"}}
TOWER_LOCAL_LOGIN = env_bool("TOWER_LOCAL_LOGIN", True)
TOWER_LOGIN_MAX_FAILURES = int(env("TOWER_LOGIN_MAX_FAILURES", "5"))
TOWER_LOGIN_LOCK_MINUTES = int(env("TOWER_LOGIN_LOCK_MINUTES", "15"))
if env("TOWER_OIDC_CLIENT_ID"):
    OIDC_RP_CLIENT_ID = env("TOWER_OIDC_CLIENT_ID")
    OIDC_RP_CLIENT_SECRET = env("TOWER_OIDC_CLIENT_SECRET", "")
    OIDC_OP_AUTHORIZATION_ENDPOINT = env("TOWER_OIDC_AUTHORIZATION_URL", "")
    OIDC_OP_TOKEN_ENDPOINT = env("TOWER_OIDC_TOKEN_URL", "")
    OIDC_OP_USER_ENDPOINT = env("TOWER_OIDC_USERINFO_URL", "")
    OIDC_OP_JWKS_ENDPOINT = env("TOWER_OIDC_JWKS_URL") or None
    OIDC_RP_SIGN_ALGO = env("TOWER_OIDC_SIGN_ALGO", "HS256")
    OIDC_RP_SCOPES = env("TOWER_OIDC_SCOPES", "openid email profile")
    OIDC_OP_LOGOUT_URL = env("TOWER_OIDC_LOGOUT_URL", "")
OIDC_TIMEOUT = 10
TOWER_SSO_VERIFY_URL = env("TOWER_SSO_VERIFY_URL", "")
TOWER_SSO_VERIFY_METHOD = env("TOWER_SSO_VERIFY_METHOD", "GET").upper()
TOWER_SSO_TICKET_PARAM = env("TOWER_SSO_TICKET_PARAM", "ticket")
TOWER_SSO_COOKIE = env("TOWER_SSO_COOKIE", "sso.jd.com")
TOWER_SSO_LOGIN_URL = env("TOWER_SSO_LOGIN_URL", "")
TOWER_SSO_LOGOUT_URL = env("TOWER_SSO_LOGOUT_URL", "")
TOWER_SSO_RETURN_PARAM = env("TOWER_SSO_RETURN_PARAM", "ReturnUrl")
DJANGO_TABLES2_TEMPLATE = "django_tables2/bootstrap4.html"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Tower API",
    "DESCRIPTION": "Binlog subscription platform: groups, instances, filters, rules, targets, subscriptions.",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/(?!v1/)",
}

CELERY_BROKER_URL = env("TOWER_BROKER_URL") or env("TOWER_REDIS_URL") or "redis://127.0.0.1:6379/0"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "tower"
# Engine (workers/): each worker also consumes tower.dump.<TOWER_WORKER_NAME> (added at start-up, see
# workers.workerhost); dumps are long-running, so the pool needs a process per dump plus short tasks.
CELERY_WORKER_CONCURRENCY = int(env("TOWER_WORKER_CONCURRENCY", "8"))
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 24 * 3600}
CELERY_BEAT_SCHEDULE = {
    "supervise": {"task": "workers.supervise", "schedule": 3.0, "options": {"expires": 10}},
    "sample-status": {"task": "workers.sample_status", "schedule": 5.0, "options": {"expires": 10}},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# The generated per-table row decoder (workers/decoder); off = python-mysql-replication decodes rows.
TOWER_FAST_DECODER = env_bool("TOWER_FAST_DECODER", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("TOWER_LOG_LEVEL", "INFO")},
}
