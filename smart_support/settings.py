"""Django settings, read from the environment (12-factor).

Safe by default: DEBUG is off unless the environment turns it on (``manage.py demo`` and the test suite
do), and a process outside debug refuses to start with the development key, without ALLOWED_HOSTS or
without a database (``smart_support/checks.py``). With no ``DATABASE_URL`` an embedded PostgreSQL under
``var/`` is used — in debug, or when ``SMART_SUPPORT_EMBEDDED_DB`` asks for it — started by the first
connection (``smart_support/embedded_db``): importing these settings starts nothing.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from smart_support.database import django_database

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SMART_SUPPORT_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


# --- Safe to run for real customers: debug, key, hosts, HTTPS ---------------------------------------
DEBUG = _env_bool("DEBUG", False)
# Public, so only for debug: smart_support/checks.py refuses it in any other process. The prefix also
# makes Django's own `check --deploy` call it insecure.
DEVELOPMENT_SECRET_KEY = "django-insecure-development-key-set-SECRET_KEY-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", [])
SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = _env_bool("CSRF_COOKIE_SECURE", False)
# "HTTP_X_FORWARDED_PROTO,https" behind a proxy that terminates TLS and sets that header (never otherwise:
# a client could then claim HTTPS itself).
_proxy_ssl_header = _env_list("SECURE_PROXY_SSL_HEADER", [])
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) if len(_proxy_ssl_header) == 2 else None
# --- end: safe to run for real customers ------------------------------------------------------------
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_TZ = True
USE_I18N = True
# The back office speaks the managers' languages: the browser's Accept-Language picks one until the user
# chooses another with the switch in the admin header (Django's set_language keeps it in a cookie).
LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "en")
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_HTTPONLY = True  # read by the server only
LANGUAGE_COOKIE_SAMESITE = "Lax"

DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
EMBEDDED_POSTGRES = not DATABASE_URL
# Outside debug an empty embedded database must not stand in for a forgotten DATABASE_URL.
EMBEDDED_POSTGRES_ALLOWED = DEBUG or _env_bool("SMART_SUPPORT_EMBEDDED_DB", False)
if EMBEDDED_POSTGRES:
    DATABASES = {
        "default": {
            **django_database("postgresql://postgres@/postgres", pool=_env_bool("DATABASE_POOL", True)),
            "ENGINE": "smart_support.embedded_db",
            "EMBEDDED_PGDATA": str(VAR_DIR / "pgdata"),
            "EMBEDDED_ALLOWED": EMBEDDED_POSTGRES_ALLOWED,
        }
    }
else:
    DATABASES = {"default": django_database(DATABASE_URL, pool=_env_bool("DATABASE_POOL", True))}
if os.environ.get("DATABASE_NAME"):  # another database on the same server (the benchmarks use their own)
    DATABASES["default"]["NAME"] = os.environ["DATABASE_NAME"]
# Empty means "the same database as Django", following Django's own settings (and so its test database).
CHECKPOINT_DATABASE_URL = os.environ.get("CHECKPOINT_DATABASE_URL", "").strip()

# --- Read replicas (smart_support/db_router.py, smart_support/replica_reads.py) ----------------------
# A streaming replica of the primary: the read-only pages below read the derived tables from it.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "").strip()
if DATABASE_REPLICA_URL and DATABASE_REPLICA_URL != DATABASE_URL:
    DATABASES["replica"] = {
        **django_database(DATABASE_REPLICA_URL, pool=_env_bool("DATABASE_POOL", True)),
        # the same cluster: tests read their test database through it, and never create one on it
        "TEST": {"MIRROR": "default"},
    }
    if os.environ.get("DATABASE_NAME"):
        DATABASES["replica"]["NAME"] = os.environ["DATABASE_NAME"]
DATABASE_ROUTERS = ["smart_support.db_router.PrimaryReplicaRouter"]  # no opinion without a replica
# Further behind than this (or unreachable), the replica is not read; a browser that changed something
# reads from the primary for this long.
DATABASE_REPLICA_MAX_LAG_SECONDS = float(os.environ.get("DATABASE_REPLICA_MAX_LAG_SECONDS", "30"))
# Admin pages read from a replica further behind than this say so.
DATABASE_REPLICA_LAG_NOTICE_SECONDS = float(os.environ.get("DATABASE_REPLICA_LAG_NOTICE_SECONDS", "5"))
# Views (URL names) whose safe requests read from the replica: the read-only API, the dashboard, the
# conversation list and the replay and customer pages.
DATABASE_REPLICA_VIEWS = frozenset({
    "conversation-list", "replay-detail", "customer-detail", "analytics-list",
    "admin:analytics_dashboard", "admin:replay_conversation_changelist", "admin:replay_conversation_replay",
    "admin:replay_conversation_customer",
})
# --- end: read replicas ------------------------------------------------------------------------------

INSTALLED_APPS = [
    "smart_support",
    "smart_support.admin_site.SupportAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "replay",
    "analytics",
]

MIDDLEWARE = [
    # Probes come by IP and plain HTTP from inside the network: answered before host validation and
    # the HTTPS redirect, and without a login.
    "smart_support.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "smart_support.middleware.SessionTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "smart_support.middleware.DatabaseUnavailableMiddleware",
    # inside the 503 answers above: it sees a request fail on the replica and asks the primary instead
    "smart_support.replica_reads.ReplicaReadsMiddleware",
]

ROOT_URLCONF = "smart_support.urls"
WSGI_APPLICATION = "smart_support.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Static files: served by the web process itself (whitenoise) after `manage.py collectstatic` ---
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names, so browsers may cache them forever; in debug straight from the apps, no collectstatic.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
# --- end: static files ------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes an anonymous request a 401, not a 403.
        "access.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "smart_support.exceptions.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "smart_support.api.FastJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Smart Support back office API",
    "DESCRIPTION": "Conversation replay and analytics for LangGraph support agents.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "smart_support.api.blank_query_parameters_are_unset",
    ],
}

SMART_SUPPORT = {
    # Tool names whose call means "hand the conversation to a human" (the escalation webhook).
    "ESCALATION_TOOLS": _env_list("SMART_SUPPORT_ESCALATION_TOOLS", ["escalate_to_human"]),
    # Tool-name prefixes that route to another agent (langgraph-supervisor and langgraph-swarm).
    "HANDOFF_TOOL_PREFIXES": _env_list("SMART_SUPPORT_HANDOFF_TOOL_PREFIXES", ["transfer_to_", "transfer_back_to_"]),
    # The channel langgraph-swarm uses to remember which agent is active.
    "ACTIVE_AGENT_CHANNEL": os.environ.get("SMART_SUPPORT_ACTIVE_AGENT_CHANNEL", "active_agent"),
    # Graph nodes that are agents: entering one from another counts as a handoff.
    "ROUTER_TARGETS": _env_list("SMART_SUPPORT_ROUTER_TARGETS", []),
    # Tools whose call only moves the conversation to another agent (LangGraph's customer-support
    # tutorial: ToFlightBookingAssistant, …, CompleteOrEscalate): shown as the handoff, never as tool calls.
    "ROUTING_TOOLS": _env_list("SMART_SUPPORT_ROUTING_TOOLS", []),
    # Channels besides ``messages`` whose input is the user's message (an Agent Inbox email assistant's
    # ``email_input``): what a run was started with there is shown as the customer's message.
    "INPUT_CHANNELS": _env_list("SMART_SUPPORT_INPUT_CHANNELS", ["email_input"]),
    # Regular expressions: a tool message whose content matches one is an error whatever its status.
    # The default matches LangGraph's ToolNode template ("Error: {repr(e)}\n Please fix your mistakes.")
    # and the customer-support tutorial's fallback ("... please fix your mistakes.").
    "TOOL_ERROR_PATTERNS": (
        [os.environ["SMART_SUPPORT_TOOL_ERROR_PATTERNS"]]
        if os.environ.get("SMART_SUPPORT_TOOL_ERROR_PATTERNS")
        else [r"\AError: .*\n [Pp]lease fix your mistakes\.\s*\Z"]
    ),
    # An interrupt still unresolved after this long is reported as expired.
    "INTERRUPT_TTL": timedelta(hours=float(os.environ.get("SMART_SUPPORT_INTERRUPT_TTL_HOURS", "24"))),
    # Processes a backfill derives with (one per core by default).
    "BACKFILL_WORKERS": int(os.environ.get("SMART_SUPPORT_BACKFILL_WORKERS", os.cpu_count() or 1)),
    # Where model prices come from: a dotted path to a function returning a price lookup.
    "PRICE_LOOKUP": "analytics.pricing.load_price_lookup",
    # Where the admin's agent filters get the names of every agent: a dotted path to a function.
    "AGENT_NAMES": "analytics.queries.agent_names",
    # Where derived analytics go: a dotted path to an AnalyticsRecorder class.
    "ANALYTICS_RECORDER": os.environ.get(
        "SMART_SUPPORT_ANALYTICS_RECORDER", "analytics.recorder.PostgresAnalyticsRecorder"
    ),
    # The metadata key naming a conversation's tenant: users see the tenants they were given.
    "TENANT_KEY": os.environ.get("SMART_SUPPORT_TENANT_KEY", "tenant"),
    # The metadata key naming a conversation's customer: the admin lists every conversation of one customer.
    "CUSTOMER_KEY": os.environ.get("SMART_SUPPORT_CUSTOMER_KEY", "customer_id"),
    # Extra personal data masked for users without replay.view_unredacted: one regular expression
    # (use | for several), besides e-mail addresses, phone numbers and payment cards.
    "REDACT_PATTERNS": [os.environ["SMART_SUPPORT_REDACT_PATTERNS"]] if os.environ.get("SMART_SUPPORT_REDACT_PATTERNS") else [],
    # Months of analytics events kept besides the current one: ``manage.py detach_event_partitions`` detaches
    # older months (the rollups keep their numbers). Empty: keep every month.
    "EVENT_RETENTION_MONTHS": (
        int(os.environ["SMART_SUPPORT_EVENT_RETENTION_MONTHS"]) if os.environ.get("SMART_SUPPORT_EVENT_RETENTION_MONTHS") else None
    ),
}

# -- Logins, API tokens, request rates and API docs (the access app) ---------------------------------
INSTALLED_APPS += ["axes", "knox", "drf_spectacular_sidecar", "access"]
# Last, as django-axes asks: it turns a login refused during a lockout into the lockout answer.
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]
# django-axes first: it refuses a locked-out username + address before the password is even checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
AXES_FAILURE_LIMIT = int(os.environ.get("SMART_SUPPORT_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("SMART_SUPPORT_LOGIN_COOLOFF_MINUTES", "15")))
# One username from one address: a guesser locks only itself out, never the real user elsewhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "access.lockout.lockout_response"
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=float(os.environ.get("SMART_SUPPORT_API_TOKEN_DAYS", "30"))),
    "AUTH_HEADER_PREFIX": "Token",
}
# DRF's request counts live in a table of the database every web process shares: in each process's memory,
# n gunicorn workers would each allow the whole rate (created by access/migrations/0001_cache_table.py).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "smart_support_cache",
        # one entry per client address and per user within a minute; Django culls a third past this
        "OPTIONS": {"MAX_ENTRIES": 20000},
    }
}
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["access.throttles.AnonymousRateThrottle", "access.throttles.UserRateThrottle"]
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    # "off" turns a rate off (the benchmarks do).
    "anon": os.environ.get("SMART_SUPPORT_THROTTLE_ANON", "60/minute"),
    "user": os.environ.get("SMART_SUPPORT_THROTTLE_USER", "1200/minute"),
}
SPECTACULAR_SETTINGS |= {"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR"}
SMART_SUPPORT |= {
    # /api/schema/ and /api/docs/ for anyone, not only signed-in users.
    "PUBLIC_API_DOCS": _env_bool("SMART_SUPPORT_PUBLIC_API_DOCS", False),
    # A CSV export of more conversations than this is refused (narrow it with filters).
    "CSV_MAX_ROWS": int(os.environ.get("SMART_SUPPORT_CSV_MAX_ROWS", "100000")),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "replay": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
        "analytics": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
        # Every 5xx with its traceback, whatever DEBUG says (Django's own console handler is DEBUG-only).
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
    },
}
