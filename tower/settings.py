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
"""
import os
import socket
from pathlib import Path

import dj_database_url

from tower.keys import load_or_create_key

BASE_DIR = Path(__file__).resolve().parent.parent

# The local servers started by `make services` are the defaults for anything not set explicitly.
_services_env = BASE_DIR / ".run" / "services.env"
if _services_env.exists():
    for _line in _services_env.read_text().splitlines():
        if "=" in _line and not _line.startswith("#"):
            _name, _value = _line.split("=", 1)
            os.environ.setdefault(_name.strip(), _value.strip())


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
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI / ReDoc assets served locally, no CDN
    "bootstrap4",
    "console",
    "workers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
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
STATIC_ROOT = DATA_DIR / "static"

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("TOWER_LOG_LEVEL", "INFO")},
}
