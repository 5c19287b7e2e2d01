"""AutoGen Lab settings, read from the environment (12-factor).

Two modes, chosen by ``AUTOGEN_ENV``:

* ``development`` (default): works on a fresh machine with nothing configured. SQLite and a
  Celery broker that needs no server (kombu's filesystem transport) live under ``var/``; a
  secret key is generated once and kept in ``var/secret_key``.
* ``production``: refuses to start with ``DEBUG`` on, without ``SECRET_KEY`` or without
  ``ALLOWED_HOSTS``, and turns on the HTTPS hardening that ``manage.py check --deploy`` asks for.

Variables: ``DATABASE_URL``, ``CELERY_BROKER_URL``, ``CELERY_RESULT_BACKEND``, ``SECRET_KEY``,
``DEBUG``, ``ALLOWED_HOSTS``, ``CSRF_TRUSTED_ORIGINS``, ``AUTOGEN_VAR_DIR``, ``AUTOGEN_DATA_DIR``,
``AUTOGEN_MAX_UPLOAD_MB``, ``SITE_URL``,
``SECURE_SSL_REDIRECT``, ``SECURE_PROXY_SSL_HEADER``, ``LOG_LEVEL``, ``CACHE_URL``,
``AUTOGEN_RATE_LIMIT_*``, ``AUTOGEN_TRUSTED_PROXIES``, ``CONN_MAX_AGE``,
``CONN_HEALTH_CHECKS``.
"""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

MODES = ("development", "production")
AUTOGEN_ENV = env.str("AUTOGEN_ENV", default="development")
if AUTOGEN_ENV not in MODES:
    raise ImproperlyConfigured(f"AUTOGEN_ENV={AUTOGEN_ENV!r}: expected one of {', '.join(MODES)}")
PRODUCTION = AUTOGEN_ENV == "production"

# Everything the running product writes: SQLite file, embedded broker, corpora, checkpoints.
VAR_DIR = Path(env.str("AUTOGEN_VAR_DIR", default=str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATA_DIR = Path(env.str("AUTOGEN_DATA_DIR", default=str(VAR_DIR / "data"))).resolve()
# Largest answers CSV the admin accepts (a million answers is ~60 MB); the command has no cap.
MAX_UPLOAD_MB = env.float("AUTOGEN_MAX_UPLOAD_MB", default=200.0)
if not MAX_UPLOAD_MB > 0:
    raise ImproperlyConfigured(f"AUTOGEN_MAX_UPLOAD_MB must be above 0, not {MAX_UPLOAD_MB}")
# The one folder (and what is under it) whose files the admin may import as corpora from the
# server ("Import from a server path"); unset: that import is off. Symlinks resolved first.
_import_root = env.str("AUTOGEN_IMPORT_ROOT", default="")
IMPORT_ROOT = Path(_import_root).resolve() if _import_root else None


def _development_secret_key() -> str:
    """Return the key kept in var/secret_key, creating it on first use (never committed)."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(get_random_secret_key())
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env.bool("DEBUG", default=not PRODUCTION)
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("AUTOGEN_ENV=production refuses to start with DEBUG on.")
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if not SECRET_KEY:
        raise ImproperlyConfigured("AUTOGEN_ENV=production needs SECRET_KEY in the environment.")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("AUTOGEN_ENV=production needs ALLOWED_HOSTS (comma-separated).")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="") or _development_secret_key()
    ALLOWED_HOSTS = env.list(
        "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"]
    )
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Where raters reach this site: the survey links that commands and admin print start with it.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "models_core",
    "surveys",
    "autogen",  # the project's own commands (demo spans both apps)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Innermost: a rater page that loses its database gets a page to try again (HTTP 503).
    "surveys.middleware.DatabaseUnavailableMiddleware",
]

# Admin messages in the session: the default (a cookie, then the session) builds a cookie signer
# on every request, rater pages too (~4% of a rater page's CPU under load).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

ROOT_URLCONF = "autogen.urls"
WSGI_APPLICATION = "autogen.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
    # The rater pages (surveys/jinja2/surveys/rater/), found here after Django's engine: they
    # are rendered on every rater's every click, by Jinja2 in a fifth of Django's time.
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"environment": "autogen.jinja2.environment"},
    },
]

# PostgreSQL in production (psycopg 3), e.g. postgres://postgres@127.0.0.1:5432/autogen.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
# Persistent connections (CONN_MAX_AGE seconds, 0: one per request): a rater page is two
# sub-millisecond queries, and a new PostgreSQL connection per request (a server process
# forked, authentication, Django's session setup) costs more than both. Each gunicorn thread
# keeps its own. No health check (a SELECT 1 before each request's first query, a third round
# trip a rater page): a connection the database dropped (a restart) fails one request and is
# replaced; on a rater page that request gets the page to try again (surveys/middleware.py).
# CONN_HEALTH_CHECKS=1 turns the check on.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", env.bool("CONN_HEALTH_CHECKS", default=False))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Parameters bound by the server, and a statement run 5 times on a connection prepared:
    # PostgreSQL then skips parsing and planning it. A rater page's query spent ~0.7 ms of
    # PostgreSQL's CPU being planned and ~0.2 ms being run (benchmarks/README.md, "Load").
    # Queries name their columns (Django's and rater_sql's), so a migration that adds a column
    # breaks none; one that changes a read column's type fails a prepared statement on a
    # connection opened before it ("cached plan must not change result type") until that
    # connection is replaced (CONN_MAX_AGE): restart the web workers after such a migration.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.setdefault("server_side_binding", True)
    options.setdefault("prepare_threshold", 5)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes progress.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
    # A file, not memory, so a Celery worker started by a test sees the test database; one per
    # process, so two test runs side by side do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every start when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # The manifest needs collectstatic, which production deploys run; development does not.
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# HTTPS hardening: on in production (check --deploy), off on a developer's plain-HTTP runserver.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# A refused CSRF check (a page left open too long, a form from elsewhere): a page that says to
# reload, in the raters' words, instead of Django's technical one.
CSRF_FAILURE_VIEW = "surveys.views.csrf_failure"
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    # Only behind a proxy that sets this header itself (and strips it from clients).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Celery. Embedded default: kombu's filesystem transport and file results under var/, so a first
# run needs no server. Production: Redis for both.
# "localhost" only silences kombu's "no hostname" warning; the transport ignores it.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost//")
EMBEDDED_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "processed", "control"):
        (EMBEDDED_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(EMBEDDED_BROKER_DIR / "queue"),
        "data_folder_out": str(EMBEDDED_BROKER_DIR / "queue"),
        "processed_folder": str(EMBEDDED_BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(EMBEDDED_BROKER_DIR / "control"),
    }
    _default_results = f"file://{VAR_DIR / 'celery-results'}"
    (VAR_DIR / "celery-results").mkdir(exist_ok=True)
else:
    _default_results = CELERY_BROKER_URL
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=_default_results)
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A worker lost mid-training hands the task back; training resumes from its last checkpoint.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (Queue("default"), Queue("gpu"))
# Training and decoding run on GPU workers (celery -Q gpu --concurrency 1, one per GPU).
CELERY_TASK_ROUTES = {"models_core.tasks.*": {"queue": "gpu"}}
# Workers send again the queued work whose message the broker lost (a restart without
# persistence) when they start and then this often, in seconds (0: only when they start).
RECONCILE_INTERVAL_S = env.float("AUTOGEN_RECONCILE_S", default=60.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_SEND_TASK_EVENTS = False

# Cache: rate-limit counters. CACHE_URL (django-environ's forms) if set; else the Redis broker
# (shared by every web process and machine); else files under var/ (shared by the processes of
# one machine; a per-process memory cache would let each gunicorn worker count alone).
if env.str("CACHE_URL", default=""):
    CACHES = {"default": env.cache_url("CACHE_URL")}
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CELERY_BROKER_URL,
            "KEY_PREFIX": "autogen-cache",
            # A Redis that is down or unreachable costs a rater page half a second at most:
            # the rate limits then let requests through (surveys/ratelimit.py).
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

RATE_PERIODS = {"s": 1, "m": 60, "h": 3600}


def _rate(name: str, default: str) -> tuple[int, int] | None:
    """A rate limit from the environment, "N/s", "N/m" or "N/h", as (N, seconds); "off": None."""
    text = env.str(name, default=default).strip().lower()
    if text in ("off", "0"):
        return None
    count, _, period = text.partition("/")
    if not (count.isascii() and count.isdigit() and int(count) > 0 and period in RATE_PERIODS):
        raise ImproperlyConfigured(f"{name}={text!r}: expected N/s, N/m or N/h (N > 0), or off")
    return int(count), RATE_PERIODS[period]


# Rate limits on the public rater pages (429 and a readable page beyond them). Generous: 200
# raters behind one NAT answering every second or so stay well below the per-address limits.
# A load test from one address at full speed may need them higher, or off.
RATE_LIMIT_VARIABLES = {  # limit: (variable, default)
    "entry_ip": ("AUTOGEN_RATE_LIMIT_ENTRY_PER_IP", "1000/m"),  # survey link and consent
    "answer_ip": ("AUTOGEN_RATE_LIMIT_ANSWERS_PER_IP", "30000/m"),
    "answer_token": ("AUTOGEN_RATE_LIMIT_ANSWERS_PER_TOKEN", "120/m"),
}
RATE_LIMITS = {name: _rate(*variable) for name, variable in RATE_LIMIT_VARIABLES.items()}
# Proxies in front of the web server that append to X-Forwarded-For (nginx: 1): the client's
# address is then the one they saw. 0: REMOTE_ADDR (a header clients set is never trusted).
TRUSTED_PROXIES = env.int("AUTOGEN_TRUSTED_PROXIES", default=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
