"""The one settings file: everything configurable comes from the environment (README lists it)."""

import datetime
import os
from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("QUORUM_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)  # SQLite file, embedded broker, uploads

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # optional; real environment variables win

DEBUG = env.bool("DEBUG", default=False)
# With DEBUG off a missing SECRET_KEY stops start-up (django-environ raises ImproperlyConfigured).
SECRET_KEY = env("SECRET_KEY", default="insecure-dev-only" if DEBUG else environ.Env.NOTSET)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "csp",
    "template_partials",
    "django_celery_beat",
    # Quorum's apps in layers, lowest first (README "Architecture"; import-linter holds it).
    "usecases",
    "notifications",
    "registry",
    "predictions",
    "reviews",
    "promotions",
    "mlflow_sync",
    "monitoring",
    "collaboration",
    "portfolio",
    "demo",
]

MIDDLEWARE = [
    # First: every response carries X-Request-ID, and an error under /api/ is a JSON 500.
    "portal.middleware.RequestIdMiddleware",
    "portal.middleware.refuse_nul_in_path",  # a NUL in a path would reach a query: 404
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "portal.headers.PermissionsPolicyMiddleware",
    # The deployment lookup of an API token in one query, with the headers above; the rest
    # of this list would not change its answer (promotions/middleware.py says why).
    "promotions.middleware.DeploymentFastPath",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Before CSRF, which reads POST bodies: each body's files stop at its view's limit.
    "portal.uploads.UploadLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the locked-out page
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "usecases.context_processors.audit_link",  # the nav's Audit link
                "promotions.context_processors.notifications",  # the bell's counts
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'quorum.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web server and worker write at once: wait for the lock instead of failing, and take
    # the write lock at BEGIN so a transaction never fails half-way on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so a real worker process started by a test sees the test data;
    # one per test run, so that two runs at once do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Django turns psycopg's prepared statements off (prepare_threshold None) for
    # transaction poolers, which also refuses a cursor that asks for one. A threshold no
    # query reaches keeps them off for Django's own cursors (they bind on the client and
    # never prepare) and lets the deployment lookup prepare its one statement
    # (promotions/fastpath.py). DB_PREPARED_STATEMENTS=false behind a PgBouncer < 1.21.
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 2**62)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# API rate limits are counted in this cache: per process with the default, so production
# sets CACHE_URL=redis://host:6379/1 (Django's RedisCache) to share the counts.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Brute-force protection (django-axes, docs/security.md): failures count per username and
# address together, so a guesser elsewhere cannot lock the owner out; its backend goes first.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "usecases.auth.PasswordBackend",  # ModelBackend; tells a hash upgrade from a new password
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_MINUTES = env.int("AXES_COOLOFF_MINUTES", default=15)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "usecases.views.locked_out"
# The client's address: REMOTE_ADDR, unless N trusted proxies in front append to
# X-Forwarded-For (a header anyone can send otherwise). The API's throttles use it too, and
# only then is a request's X-Request-ID taken from outside (portal/proxies.py).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "portal.proxies.client_address"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "portal.staticfiles.VendoredPackageFinder",  # static/vendor/plotly.min.js
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# E-mail: EMAIL_URL such as smtp+tls://user:pass@host:587; the console in development.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")  # for links in e-mails
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="quorum@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# HTTPS hardening: on when SECURE_SSL_REDIRECT is set (production behind TLS).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if SECURE_SSL_REDIRECT else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
if env.bool("USE_X_FORWARDED_PROTO", default=False):  # only behind a proxy that sets it
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp; docs/security.md "Output safety"). Everything from
# our own origin only: no inline script, no eval (htmx runs with allowEval off, base.html),
# no inline style. Pages that draw plotly charts add 'unsafe-inline' styles and data:
# images (portal.plotting.chart_page); the API docs pages add what Swagger UI and ReDoc
# need (portal.api_pages). plotly.js 4 needs no 'unsafe-eval': checked in Chromium.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "object-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    }
}
# Browser features no page of Quorum uses (portal.headers).
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "publickey-credentials-get",
        "screen-wake-lock",
        "usb",
        "xr-spatial-tracking",
    )
}
# /favicon.ico for browsers that ask for it without a <link rel="icon"> (admin, API docs).
WHITENOISE_ROOT = BASE_DIR / "static" / "root"

# Uploads and request bodies (docs/security.md "Uploads and data files"). Every request's
# files stop at a limit (portal.uploads: the first upload handler, 413 past it): a data file
# may take MAX_UPLOAD_BYTES on the views that take one (the browser's and the API's uploads),
# and the readers count its decoded size against the same limit (registry passes it to
# tables.io); files sent anywhere else stop at MAX_FORM_UPLOAD_BYTES, as no other form
# takes one. Django keeps a file up to FILE_UPLOAD_MAX_MEMORY_SIZE in memory and spools a
# larger one to a temporary file. DATA_UPLOAD_MAX_MEMORY_SIZE caps what is read whole: form
# fields, request.body and the API's JSON bodies (portal.parsers); not files, nor the
# prediction log's JSON and CSV batches (their own 128 MB, predictions/api).
MAX_UPLOAD_BYTES = 200 * 1024**2
MAX_FORM_UPLOAD_BYTES = 2621440  # 2.5 MB
FILE_UPLOAD_HANDLERS = [
    "portal.uploads.CappedUploadHandler",  # first: stops the files at the request's limit
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_MAX_MEMORY_SIZE = 2621440  # 2.5 MB
DATA_UPLOAD_MAX_MEMORY_SIZE = 2621440  # 2.5 MB
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000  # the admin's bulk actions post one per selected row
DATA_UPLOAD_MAX_NUMBER_FILES = 10

# REST API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.auth.TokenAuthentication",  # knox's; an unreadable header is a 401
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "portal.api.exception_handler",
    # JSON nested at most 32 deep, no NUL, no infinite numbers (portal/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "portal.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "portal.uploads.MultiPartParser",  # 413 when the body's files pass the limit
    ],
    # Beyond the rate: a JSON 429 with code "throttled" and Retry-After. Generous for a bulk
    # client; a load test or fuzzer raises them by environment.
    "DEFAULT_THROTTLE_CLASSES": [  # DRF's, with the client's address as axes reads it
        "portal.throttles.AnonRateThrottle",
        "portal.throttles.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_RATE_ANON", default="60/minute"),
        "user": env("THROTTLE_RATE_USER", default="2000/minute"),
        # POST /api/v1/auth/token, per client address (usecases/api/auth_tokens.py).
        "token_login": env("THROTTLE_RATE_TOKEN_LOGIN", default="10/minute"),
    },
    # Our throttles read the address through portal.proxies; any DRF class used as it is
    # would read it here, the same way (0: REMOTE_ADDR, never a client-sent header).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "PAGE_SIZE": 50,
}
REST_KNOX = {"TOKEN_TTL": None, "AUTO_REFRESH": False}  # expiry is chosen per token
SPECTACULAR_SETTINGS = {
    "TITLE": "Quorum API",
    "DESCRIPTION": "Use cases, KPIs, value models, data-quality rules, members and audit "
    "events; the model registry: model versions, evaluation datasets (CSV or Parquet uploads, "
    "validated as they stream), predictions and evaluations run by Celery workers. "
    "Authenticate with `Authorization: Token <token>`: create one under Account → API "
    "tokens, or for a script with `POST /api/v1/auth/token` (username and password; what "
    "`quorum login` calls).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    # Never a badge from validator.swagger.io: Swagger UI's StandaloneLayout would fetch one on
    # any host but localhost (drf-spectacular's BaseLayout shows none today).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Celery: no result backend; status and progress live on the rows (STACK-NOTES §1.4).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Embedded broker for a laptop: a real worker process, no service to install.
    BROKER_DIR = VAR_DIR / "broker"
    for folder in ("queue", "control"):  # kombu expects them to exist
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=7200)
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# Queues per task name (Celery 5.5+ deprecates the task's own `queue=` attribute); workers
# consume the queues named in the Procfile, and a deployment may run one pool per queue.
CELERY_TASK_ROUTES = {
    "usecases.send_welcome": {"queue": "notifications"},
    "usecases.run_evaluation": {"queue": "evaluations"},
    "predictions.recount_quality": {"queue": "evaluations"},  # reads a version's whole log
    "predictions.recompute_confidences": {"queue": "evaluations"},  # one UPDATE of the log
    "promotions.send_notification_email": {"queue": "notifications"},  # queued before 13
    "notifications.send_email": {"queue": "notifications"},
    "notifications.post_webhook": {"queue": "notifications"},
    "notifications.send_digest": {"queue": "notifications"},
    "notifications.send_digests": {"queue": "notifications"},
    "promotions.deliver_webhook": {"queue": "webhooks"},
    "monitoring.run_day": {"queue": "monitoring"},  # one version's day of the log
    "monitoring.run_week": {"queue": "monitoring"},  # one version's week of KPIs
    "monitoring.schedule_nightly": {"queue": "monitoring"},
    "mlflow_sync.import_link": {"queue": "webhooks"},  # calls out to MLflow
    "mlflow_sync.import_due": {"queue": "webhooks"},
    "mlflow_sync.sync_aliases": {"queue": "webhooks"},
}
CELERY_TASK_TIME_LIMIT = 30 * 60
# Beat (a process of its own in production; `-B` in the local worker): the schedule lives in
# the database (django-celery-beat's admin), seeded from this dict at each start.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "notifications-daily-digest": {  # DIGEST_HOUR o'clock, TIME_ZONE's clock
        "task": "notifications.send_digests",
        "schedule": crontab(hour=env.int("DIGEST_HOUR", default=7), minute=0),
    },
    "mlflow-scheduled-imports": {  # each link whose schedule is due (docs/mlflow.md)
        "task": "mlflow_sync.import_due",
        "schedule": crontab(minute="*/15"),
    },
    "monitoring-nightly": {  # 02:00, TIME_ZONE's clock: yesterday (UTC) of each deployed version
        "task": "monitoring.schedule_nightly",
        "schedule": crontab(hour=2, minute=0),
    },
}
# The daily monitoring job (docs/monitoring.md "The daily job"): a run whose heartbeat is
# older than this is taken over by the next delivery. Keep it over monitoring.run_day's hard
# time limit (12 min) in production; the worker kill test shortens it to a few seconds.
MONITORING_STALE_SECONDS = env.int("MONITORING_STALE_SECONDS", default=15 * 60)
# Deployment webhook (docs/webhooks.md; docs/security.md "Deployment webhook"): each call's
# timeout, attempts with exponential backoff from the first wait, and whether a webhook may
# point at a private or loopback address (refused unless set; on in DEBUG for local tries).
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=5)
WEBHOOK_BACKOFF_SECONDS = env.int("WEBHOOK_BACKOFF_SECONDS", default=10)
WEBHOOK_ALLOW_PRIVATE_HOSTS = env.bool("WEBHOOK_ALLOW_PRIVATE_HOSTS", default=DEBUG)
# MLflow (docs/mlflow.md): hosts a tracking URI may name although private or loopback,
# credential sets a link may name, each sent only to its hosts (JSON: {"name": {"token": …,
# "hosts": [...]}} or with "username" and "password"; a link without one sends
# MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and _PASSWORD, only to the host of
# MLFLOW_TRACKING_URI), each call's timeout, and the alias sync's attempts with
# exponential backoff from the first wait.
MLFLOW_ALLOWED_HOSTS = env.list("MLFLOW_ALLOWED_HOSTS", default=[])
MLFLOW_CREDENTIALS = env.json("MLFLOW_CREDENTIALS", default={})
MLFLOW_TIMEOUT_SECONDS = env.float("MLFLOW_TIMEOUT_SECONDS", default=10.0)
MLFLOW_SYNC_MAX_ATTEMPTS = env.int("MLFLOW_SYNC_MAX_ATTEMPTS", default=8)
MLFLOW_SYNC_BACKOFF_SECONDS = env.int("MLFLOW_SYNC_BACKOFF_SECONDS", default=10)
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # [request id] of the request being handled, "-" outside one (portal/middleware.py).
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "filters": {"request_id": {"()": "portal.middleware.RequestIdFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
