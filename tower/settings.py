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
| TOWER_LOGIN_FAILURE_LIMIT | 5 | failed password sign-ins per username (console, /admin/, HTTP Basic together) before it is locked |
| TOWER_LOGIN_COOLOFF_MINUTES | 15 | how long a lock lasts (failures older than this no longer count) |
| TOWER_OIDC_CLIENT_ID | (unset: OIDC off) | OIDC client id; OIDC login is on when this and the endpoints are set |
| TOWER_OIDC_CLIENT_SECRET | | OIDC client secret (also the HS256 key of the id token) |
| TOWER_OIDC_AUTHORIZATION_URL, TOWER_OIDC_TOKEN_URL, TOWER_OIDC_USERINFO_URL | | OIDC provider endpoints |
| TOWER_OIDC_JWKS_URL | | JWKS endpoint, for RS256/ES256 providers |
| TOWER_OIDC_SIGN_ALGO | HS256 | id token signature algorithm |
| TOWER_OIDC_SCOPES | openid email profile | scopes requested |
| TOWER_OIDC_LOGOUT_URL | | provider logout URL to send the browser to after /logout/ |
| TOWER_OIDC_ALLOWED_DOMAINS | (unset: any) | comma separated e-mail domains; OIDC sign-in then needs a verified e-mail in one of them |
| TOWER_SSO_VERIFY_URL | (unset: ticket SSO off) | BinLake-style ticket SSO: URL that verifies a ticket and answers JSON {erp, email, orgName} |
| TOWER_SSO_VERIFY_METHOD | GET | GET (ticket as query parameter) or POST (form field) |
| TOWER_SSO_TICKET_PARAM | ticket | name of the ticket parameter sent to the verify URL |
| TOWER_SSO_COOKIE | sso.jd.com | name of the cookie holding the SSO ticket |
| TOWER_SSO_LOGIN_URL | | where unauthenticated browsers are sent (a return URL is appended) |
| TOWER_SSO_LOGOUT_URL | | where /logout/ sends the browser to end the SSO session |
| TOWER_SSO_RETURN_PARAM | ReturnUrl | name of the return URL parameter of the SSO login/logout URLs |
| TOWER_WORKER_CONCURRENCY | 8 | Celery worker processes per host (dumps it may hold plus short tasks) when TOWER_DUMPS_PER_PROCESS is 1 |
| TOWER_DUMPS_PER_PROCESS | 1 | dumps one worker process runs: 1 = a prefork pool process per dump; N > 1 = up to N dumps as threads of the worker's one process (docs/architecture.md, "Many dumps per process") |
| TOWER_DUMPS_PER_HOST | 0 | dumps the supervisor gives all the workers of one machine (same `waves.ip`) together; 0: no cap beyond each worker's own |
| TOWER_FAST_DECODER | 1 | decode rows with the generated per-table decoders (0: the library's decoder) |
| TOWER_TARGET_STALL_SECONDS | 2 | seconds a dump waits for one subscription's batch write before it goes on with the others; that write finishes in the subscription's own thread (docs/architecture.md, "One target cannot hold back the others") |
| TOWER_TRANSACTION_PIECE_ROWS | 10000 | a transaction with more row changes is delivered in pieces as it is read (docs/architecture.md, "Big transactions") |
| TOWER_TRANSACTION_PIECE_BYTES | 8388608 | same, for bytes of row events (binlog size) held for one transaction |
| TOWER_STREAM_BUFFER_CHANGES | 20000 | row changes the binlog reader may hold that the dump loop has not taken (the former 50,000 cost a dump's process up to ~140 MB more in bench/bench_bigtxn.py, for no speed) |
| TOWER_STREAM_BUFFER_BYTES | 33554432 | bytes of row events the binlog reader may hold that the dump loop has not taken |
| TOWER_LEASE_TTL | 8 | seconds a dump leader's lease lives without renewal (a candidate takes over after it) |
| TOWER_SUPERVISE_EVERY | 3 | seconds between supervisor passes run by the fleet's owner on its own worker host (beat's `workers.supervise` is optional) |
| TOWER_SOURCE_NETWORKS | (unset: any) | comma separated CIDRs; Tower connects to a source only at an address inside them (docs/architecture.md) |
| TOWER_DUMP_STALL_LIMIT | 120 | seconds a dump loop may be held (e.g. by a target that stops answering) while its lease is still renewed |
| TOWER_TOKEN_TTL_HOURS | 2160 (90 days) | lifetime of a new API token (`manage.py token create`); 0: new tokens never expire |
| TOWER_SECURE_COOKIES | 0 | session and CSRF cookies only over HTTPS (turn on in production) |
| TOWER_HSTS_SECONDS | 0 | HSTS max-age, subdomains included (31536000 in production; 0: no HSTS header) |
| TOWER_HSTS_PRELOAD | 0 | add `preload` to HSTS: consent to browsers' preload lists, hard to undo (off, check --deploy's W021 is silenced) |
| TOWER_SSL_REDIRECT | 0 | redirect plain HTTP requests to HTTPS |
| TOWER_BEHIND_TLS_PROXY | 0 | trust `X-Forwarded-Proto: https` from the proxy in front (only when it always sets or strips that header) |
"""
import os
import socket
from datetime import timedelta
from pathlib import Path

import dj_database_url

from tower.keys import keep_private, load_or_create_key, private_dir
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
# Keys and the metadata DB live here: only Tower's own user may read it (docs/architecture.md).
private_dir(DATA_DIR)

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
    "axes",  # failed sign-in lockout, shared by every process through the database
    "rest_framework",
    "knox",  # API tokens, stored as digests with an expiry
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
    # Created (or tightened) 0600 before SQLite opens it; SQLite gives its journal files the same mode.
    if DATABASES["default"]["NAME"] != ":memory:":
        keep_private(Path(DATABASES["default"]["NAME"]))
    # Workers and the web server write the same file: wait on locks instead of failing. Write-ahead logging:
    # readers (the console, every dump's reload) never block the one writer nor wait for it, and a commit is
    # one append and fsync (3,145 commits/s against 1,002 in the rollback journal, measured on this machine's
    # disk); synchronous stays FULL, so a commit survives a power loss as before.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE",
                                       "init_command": "PRAGMA journal_mode=WAL"}
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
# One date format on every page, with the zone: "2026-12-01 21:03:41 UTC" in TIME_ZONE. The format module
# makes the localized formats (templates, django-tables2's DateTimeColumn) say the same.
DATETIME_FORMAT = SHORT_DATETIME_FORMAT = "Y-m-d H:i:s T"
FORMAT_MODULE_PATH = ["tower.formats"]

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
    "console.auth.lockout.LockoutBackend",  # first: a locked username is refused before any password check
    "django.contrib.auth.backends.ModelBackend",
    "console.auth.oidc.TowerOIDCBackend",  # inert unless the OIDC_* settings below are set
    "console.auth.ticket.TicketSSOBackend",  # inert unless TOWER_SSO_VERIFY_URL is set
]
MIDDLEWARE += [
    "console.auth.middleware.TicketSSOMiddleware",
    "console.auth.middleware.ConsoleLoginRequiredMiddleware",
    "console.auth.middleware.DeniedAuditMiddleware",
    "axes.middleware.AxesMiddleware",
]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tower"}}
TOWER_LOCAL_LOGIN = env_bool("TOWER_LOCAL_LOGIN", True)
# django-axes (console/auth/lockout.py): one lockout for /login/, /admin/login/ and HTTP Basic, kept in the
# database so every web process agrees. By username only: a per-address lock would lock out a whole office
# behind one NAT address, and scripts sharing a host, because of one mistyped password.
AXES_FAILURE_LIMIT = int(env("TOWER_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(env("TOWER_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes warns when the address is not a lockout parameter; by username alone, failures from every address and
# user agent add up (AccessAttempt rows are summed per username), so rotating them gains an attacker nothing.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
# Attempts while locked do not push the end of the lock further out: it ends one cool-off after it began.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "console.auth.lockout.lockout_response"
AXES_DISABLE_ACCESS_LOG = True  # sign-ins are audited in AuditLog (console.domain.audit.record_login)
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)  # X-Forwarded-For is client-controlled
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
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
TOWER_OIDC_ALLOWED_DOMAINS = [d.strip().lower() for d in env("TOWER_OIDC_ALLOWED_DOMAINS", "").split(",") if d.strip()]
TOWER_SSO_VERIFY_URL = env("TOWER_SSO_VERIFY_URL", "")
TOWER_SSO_VERIFY_METHOD = env("TOWER_SSO_VERIFY_METHOD", "GET").upper()
TOWER_SSO_TICKET_PARAM = env("TOWER_SSO_TICKET_PARAM", "ticket")
TOWER_SSO_COOKIE = env("TOWER_SSO_COOKIE", "sso.jd.com")
TOWER_SSO_LOGIN_URL = env("TOWER_SSO_LOGIN_URL", "")
TOWER_SSO_LOGOUT_URL = env("TOWER_SSO_LOGOUT_URL", "")
TOWER_SSO_RETURN_PARAM = env("TOWER_SSO_RETURN_PARAM", "ReturnUrl")
DJANGO_TABLES2_TEMPLATE = "django_tables2/bootstrap4-responsive.html"  # wide tables scroll in their own box on phones
# After a form error only the fields with errors are marked: a green "valid" tick on an untouched (or empty
# password) field would say it was checked and accepted, which nothing did.
BOOTSTRAP4 = {"success_css_class": ""}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON with the body size, depth and Unicode checks of every surface (console/api/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "console.api.parsers.CheckedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "console.api.parsers.exception_handler",  # a body past the upload limit: 413
}

# The largest request body any surface reads (Django's default, stated: a MetaData, a changefeed or a form
# is a few KB); the native API's JSON parser applies it too.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# `Authorization: Token <key>` on every surface (console/api/compat/auth.py uses the same knox lookup).
_TOKEN_TTL_HOURS = int(env("TOWER_TOKEN_TTL_HOURS", str(24 * 90)))
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=_TOKEN_TTL_HOURS) if _TOKEN_TTL_HOURS > 0 else None,
    "AUTH_HEADER_PREFIX": "Token",
}

# --- HTTPS in production (all off by default: a development server speaks plain HTTP) ---------------
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("TOWER_SECURE_COOKIES")
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = int(env("TOWER_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env_bool("TOWER_HSTS_PRELOAD")
if not SECURE_HSTS_PRELOAD:
    # Preloading is an operator's decision per domain (browsers ship the list; leaving it takes months).
    SILENCED_SYSTEM_CHECKS.append("security.W021")
SECURE_SSL_REDIRECT = env_bool("TOWER_SSL_REDIRECT")
if env_bool("TOWER_BEHIND_TLS_PROXY"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

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
# workers.workerhost). Dumps are long-running: a prefork pool needs a process per dump plus short tasks; with
# TOWER_DUMPS_PER_PROCESS > 1 the worker runs them as threads of its one process (Celery's threads pool),
# with SHORT_TASK_SLOTS more threads for the short tasks (supervise, sample_status).
TOWER_DUMPS_PER_PROCESS = max(1, int(env("TOWER_DUMPS_PER_PROCESS", "1")))
SHORT_TASK_SLOTS = 2
if TOWER_DUMPS_PER_PROCESS > 1:
    CELERY_WORKER_POOL = "threads"
    CELERY_WORKER_CONCURRENCY = TOWER_DUMPS_PER_PROCESS + SHORT_TASK_SLOTS
    TOWER_DUMP_SLOTS = TOWER_DUMPS_PER_PROCESS
else:
    CELERY_WORKER_POOL = "prefork"
    CELERY_WORKER_CONCURRENCY = int(env("TOWER_WORKER_CONCURRENCY", "8"))
    TOWER_DUMP_SLOTS = CELERY_WORKER_CONCURRENCY
# The supervisor gives a worker at most TOWER_DUMP_SLOTS dumps (its waves.dump_slots), and the workers of one
# machine at most TOWER_DUMPS_PER_HOST together (0: no such cap).
TOWER_DUMPS_PER_HOST = max(0, int(env("TOWER_DUMPS_PER_HOST", "0")))
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 24 * 3600}
CELERY_BEAT_SCHEDULE = {
    "supervise": {"task": "workers.supervise", "schedule": 3.0, "options": {"expires": 10}},
    "sample-status": {"task": "workers.sample_status", "schedule": 5.0, "options": {"expires": 10}},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# The generated per-table row decoder (workers/decoder); off = python-mysql-replication decodes rows.
TOWER_FAST_DECODER = env_bool("TOWER_FAST_DECODER", True)
# Big transactions (workers/stream.py): delivered in pieces past these bounds; the reader's buffer in bytes.
TOWER_TARGET_STALL_SECONDS = float(env("TOWER_TARGET_STALL_SECONDS", "2"))
TOWER_TRANSACTION_PIECE_ROWS = int(env("TOWER_TRANSACTION_PIECE_ROWS", "10000"))
TOWER_TRANSACTION_PIECE_BYTES = int(env("TOWER_TRANSACTION_PIECE_BYTES", str(8 << 20)))
TOWER_STREAM_BUFFER_BYTES = int(env("TOWER_STREAM_BUFFER_BYTES", str(32 << 20)))
TOWER_STREAM_BUFFER_CHANGES = int(env("TOWER_STREAM_BUFFER_CHANGES", "20000"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # URIs and secret=value pairs in any message or traceback are masked before a handler writes them
    "filters": {"mask_secrets": {"()": "workers.masking.MaskSecrets"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask_secrets"]}},
    "root": {"handlers": ["console"], "level": env("TOWER_LOG_LEVEL", "INFO")},
    # django-axes logs every sign-in at INFO; AuditLog keeps those. Its warnings (failures, lockouts) stay.
    "loggers": {"axes": {"level": "WARNING"}},
}
