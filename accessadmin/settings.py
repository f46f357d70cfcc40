"""AccessAdmin settings, read from the environment (see README, "Configuration")."""

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from accessadmin.env import Environment, redis_url_with_password

BASE_DIR = Path(__file__).resolve().parent.parent
env = Environment()

ENVIRONMENT = env.choice("ACCESSADMIN_ENV", ("local", "test", "production"), "local")
PRODUCTION = ENVIRONMENT == "production"

# Off unless asked for, locally too: pages render as in production, technical details go to the
# log, never to a browser.
DEBUG = env.bool("DEBUG", default=False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be false when ACCESSADMIN_ENV is production.")

SECRET_KEY = env.secret("SECRET_KEY", required=PRODUCTION) or "insecure-local-only-key"
if PRODUCTION and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "onboarding",
    "web",
    "api",
    "scim",
]

MIDDLEWARE = [
    "web.request_guard.RequestGuardMiddleware",  # first: refuses before anything reads the body
    "web.database_timeouts.DatabaseTimeoutsMiddleware",  # before anything queries
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "web.middleware.DirectoryRightsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "accessadmin.urls"
WSGI_APPLICATION = "accessadmin.wsgi.application"

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

_default_database = f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"
_database_url = env.url(
    "DATABASE_URL",
    "" if PRODUCTION else _default_database,
    schemes=("postgres", "postgresql", "sqlite"),
)
if not _database_url:
    raise ImproperlyConfigured("DATABASE_URL must be set when ACCESSADMIN_ENV is production.")
DATABASES = {
    "default": dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)
}
# The password as a secret of its own (DATABASE_PASSWORD_FILE), so DATABASE_URL need not carry it.
_database_password = env.secret("DATABASE_PASSWORD")
if _database_password:
    if DATABASES["default"].get("PASSWORD"):
        raise ImproperlyConfigured(
            "Give the database password in DATABASE_URL or DATABASE_PASSWORD(_FILE), not both."
        )
    DATABASES["default"]["PASSWORD"] = _database_password
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker write to one file; IMMEDIATE avoids "database is locked".
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # SQLite creates its file but not the folder: a fresh checkout has no var/ yet.
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Outside production, serve straight from the source folders: no collectstatic needed.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION

# Celery: JSON only; a task is acknowledged once finished, so a killed worker's job is redelivered.
CELERY_BROKER_URL = env.url(
    "CELERY_BROKER_URL", "redis://127.0.0.1:6379/0", schemes=("redis", "rediss")
)
CELERY_RESULT_BACKEND = env.url(
    "CELERY_RESULT_BACKEND", CELERY_BROKER_URL, schemes=("redis", "rediss")
)
# Redis' password as a secret of its own (REDIS_PASSWORD_FILE): put into both URLs, which then
# name no password themselves.
REDIS_PASSWORD = env.secret("REDIS_PASSWORD")
if REDIS_PASSWORD:
    CELERY_BROKER_URL, CELERY_RESULT_BACKEND = (
        redis_url_with_password(name, url, REDIS_PASSWORD)
        for name, url in (
            ("CELERY_BROKER_URL", CELERY_BROKER_URL),
            ("CELERY_RESULT_BACKEND", CELERY_RESULT_BACKEND),
        )
    )
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", 600, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 5
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_MAX_RETRIES = env.int("CELERY_TASK_MAX_RETRIES", 6, minimum=0)
# Nothing reads task results; the two tasks that answer (ping, requeue) say so themselves.
CELERY_TASK_IGNORE_RESULT = True

# The audit trail (README, "The audit trail"): each link is an HMAC keyed with AUDIT_KEY, which the
# database never sees (default: derived from SECRET_KEY), and every append records the chain's head
# in AUDIT_HEAD_FILE, outside the database. DATABASE_APP_ROLE is the role web, worker and beat
# connect as: migrations leave it only SELECT and INSERT on audit events.
AUDIT_KEY = env.secret("AUDIT_KEY", required=PRODUCTION)
if PRODUCTION and len(AUDIT_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_KEY must be at least 32 characters long.")


def _database_slug(database: dict) -> str:
    """A file-name-safe name of the database: one local head file per database."""
    if database["ENGINE"] == "django.db.backends.sqlite3":
        name = Path(str(database["NAME"])).stem
    else:
        name = (
            f"{database.get('HOST') or 'local'}-{database.get('PORT') or 5432}-{database['NAME']}"
        )
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


AUDIT_HEAD_FILE = env.str(
    "AUDIT_HEAD_FILE",
    ""
    if ENVIRONMENT == "test"
    else str(BASE_DIR / "var" / f"audit-head-{_database_slug(DATABASES['default'])}.log"),
    required=PRODUCTION,
)
if AUDIT_HEAD_FILE and Path(AUDIT_HEAD_FILE).parent == BASE_DIR / "var":
    (BASE_DIR / "var").mkdir(exist_ok=True)  # the local default, also with a PostgreSQL database
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE")
if ENVIRONMENT == "test" and DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # Only a test database may be emptied: pytest-django flushes it with TRUNCATE.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        "-c accessadmin.allow_audit_truncate=on"
    )

# Lifecycle runs: how long a secret waits to be revealed, how often a running run says it is alive,
# when a silent one (or a queued one nobody picked up) is handed to another worker, how often beat
# looks for those, and the retry back-off for transient failures.
CREDENTIALS_KEY = env.secret("CREDENTIALS_KEY")
CREDENTIALS_TTL_SECONDS = env.int("CREDENTIALS_TTL_SECONDS", 86400, minimum=60)
LIFECYCLE_HEARTBEAT_SECONDS = env.int("LIFECYCLE_HEARTBEAT_SECONDS", 10, minimum=1)
LIFECYCLE_STALE_SECONDS = env.int("LIFECYCLE_STALE_SECONDS", 40, minimum=3)
if LIFECYCLE_STALE_SECONDS < 3 * LIFECYCLE_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        "LIFECYCLE_STALE_SECONDS must be at least 3 x LIFECYCLE_HEARTBEAT_SECONDS, or a busy "
        "worker's run would be taken from it."
    )
LIFECYCLE_SWEEP_SECONDS = env.int("LIFECYCLE_SWEEP_SECONDS", 15, minimum=1)
# Onboardings, offboardings, moves and reinstatements one actor may ask for in an hour (0: no
# limit): a stolen session or a runaway script cannot churn the whole platform.
LIFECYCLE_REQUESTS_PER_HOUR = env.int("LIFECYCLE_REQUESTS_PER_HOUR", 60, minimum=0)
# The longest an API token may live, in days: a token leaked unnoticed stops working by itself.
API_TOKEN_MAX_DAYS = env.int("API_TOKEN_MAX_DAYS", 90, minimum=1)
# SCIM (/scim/v2/): how an identity provider's userName becomes a FreeIPA username ("userName"
# as it is, lower-cased; "email_local_part": the part before "@", lower-cased), which of its
# attributes names a new user's team (an enterprise extension attribute, such as "department";
# "" for group memberships only), and whether creating a SCIM group creates a team.
SCIM_USERNAME_FROM = env.choice("SCIM_USERNAME_FROM", ("userName", "email_local_part"), "userName")
SCIM_TEAM_ATTRIBUTE = env.choice(
    "SCIM_TEAM_ATTRIBUTE", ("", "department", "division", "organization", "costCenter"), ""
)
SCIM_GROUPS_CREATE_TEAMS = env.bool("SCIM_GROUPS_CREATE_TEAMS", False)
# The most rows one bulk onboarding file may hold (manage.py people_onboard_csv, the upload page).
BULK_MAX_ROWS = env.int("BULK_MAX_ROWS", 500, minimum=1)
# The largest request body read at all (a 2 MB CSV upload and its form fit); larger ones are
# refused from their Content-Length. The proxy in front caps bodies too (deploy/Caddyfile).
# FreeIPA checks a user's OTP code on LDAP binds (the password followed by the code); the local
# stand-in's directory checks passwords alone, and the login page then asks for no code.
LDAP_CHECKS_OTP = env.bool("LDAP_CHECKS_OTP", True)
REQUEST_MAX_BYTES = env.int("REQUEST_MAX_BYTES", 3 * 1024 * 1024, minimum=64 * 1024)
# How long one statement of a web request may run, and wait for a lock, before PostgreSQL cancels
# it and the request answers 503; probes (/healthz, /metrics) wait less.
WEB_STATEMENT_TIMEOUT_MS = env.int("WEB_STATEMENT_TIMEOUT_MS", 30_000, minimum=100)
WEB_LOCK_TIMEOUT_MS = env.int("WEB_LOCK_TIMEOUT_MS", 5_000, minimum=100)
PROBE_STATEMENT_TIMEOUT_MS = env.int("PROBE_STATEMENT_TIMEOUT_MS", 3_000, minimum=100)
PROBE_LOCK_TIMEOUT_MS = env.int("PROBE_LOCK_TIMEOUT_MS", 1_000, minimum=100)
LIFECYCLE_RETRY_BASE_SECONDS = env.int("LIFECYCLE_RETRY_BASE_SECONDS", 5, minimum=0)
LIFECYCLE_RETRY_MAX_SECONDS = env.int("LIFECYCLE_RETRY_MAX_SECONDS", 300, minimum=0)

# A message a worker took but never acknowledged (it died) comes back after this; it must outlast
# the longest task and the longest back-off, or Redis would hand a live task to a second worker.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int(
        "CELERY_VISIBILITY_TIMEOUT",
        CELERY_TASK_TIME_LIMIT + LIFECYCLE_RETRY_MAX_SECONDS + 60,
        minimum=5,
    ),
    # A request made while Redis is down answers at once; beat sends the run when it is back.
    "socket_connect_timeout": 2,
    "socket_timeout": 10,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2

# How long a page waits for the systems' live view of a person (they are asked at once, each in a
# thread); a system slower than this is shown as not answering, well inside gunicorn's timeout.
LIVE_STATE_TIMEOUT_SECONDS = env.int("LIVE_STATE_TIMEOUT_SECONDS", 5, minimum=1)
# The dashboard's preflight panel: how long it waits for every system, and how long its answer
# is kept before the systems are asked again.
PREFLIGHT_TIMEOUT_SECONDS = env.int("PREFLIGHT_TIMEOUT_SECONDS", 20, minimum=1)
PREFLIGHT_CACHE_SECONDS = env.int("PREFLIGHT_CACHE_SECONDS", 300, minimum=0)
# How often beat compares what AccessAdmin believes with what the systems hold (manage.py
# reconcile does one pass by hand).
RECONCILE_INTERVAL_SECONDS = env.int("RECONCILE_INTERVAL_SECONDS", 3600, minimum=60)
# How often beat starts the onboardings and offboardings whose start or end date has come
# (manage.py lifecycle_due does one pass by hand).
LIFECYCLE_DUE_SECONDS = env.int("LIFECYCLE_DUE_SECONDS", 300, minimum=30)
# How long opening an access review waits for each system's inventory; a slower one is recorded
# as not answering, and the review opens without it.
REVIEW_OPEN_TIMEOUT_SECONDS = env.int("REVIEW_OPEN_TIMEOUT_SECONDS", 20, minimum=1)
# How often beat reminds leads of open access reviews' pending decisions (each lead at most once
# a day per review) and tells the admins of reviews past their deadline (manage.py review remind).
REVIEW_REMIND_SECONDS = env.int("REVIEW_REMIND_SECONDS", 3600, minimum=60)
CELERY_BEAT_SCHEDULE = {
    "requeue-overdue-runs": {
        "task": "lifecycle.runs_overdue_requeue",
        "schedule": float(LIFECYCLE_SWEEP_SECONDS),
    },
    "purge-expired-credentials": {"task": "credentials.purge_expired", "schedule": 600.0},
    "purge-expired-sessions": {"task": "sessions.purge_expired", "schedule": 3600.0},
    "purge-old-login-records": {"task": "login_records.purge_old", "schedule": 86400.0},
    "reconcile": {"task": "reconcile.pass", "schedule": float(RECONCILE_INTERVAL_SECONDS)},
    "lifecycle-due": {"task": "lifecycle.due", "schedule": float(LIFECYCLE_DUE_SECONDS)},
    "reviews-remind": {"task": "reviews.remind", "schedule": float(REVIEW_REMIND_SECONDS)},
}

# E-mail about runs (onboarding/notifications.py): to whoever asked and the team's leads when a
# run ends, and a welcome (never a secret) to someone onboarded. Nothing is sent without
# EMAIL_HOST. SITE_URL is where the e-mails link to (the run's page).
EMAIL_HOST = env.str("EMAIL_HOST", "")
EMAIL_PORT = env.int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "accessadmin@localhost")
SITE_URL = env.url(
    "SITE_URL", "" if PRODUCTION else "http://localhost:8000", schemes=("http", "https")
)
# Self-service enrolment (onboarding/enrolment/): with e-mail, onboardings and credential resets
# e-mail the person a one-time link to enrol their OTP token and choose their password, and nobody
# else sees a secret; off (or without EMAIL_HOST) the requester reveals them once, as before. A
# link lasts ENROLMENT_TTL_HOURS; an address with ENROLMENT_FAILURE_LIMIT wrong links or codes in
# ENROLMENT_FAILURE_WINDOW_SECONDS is refused until the window has passed.
ENROLMENT_BY_EMAIL = env.bool("ENROLMENT_BY_EMAIL", True)
ENROLMENT_TTL_HOURS = env.int("ENROLMENT_TTL_HOURS", 72, minimum=1)
ENROLMENT_FAILURE_LIMIT = env.int("ENROLMENT_FAILURE_LIMIT", 10, minimum=1)
ENROLMENT_FAILURE_WINDOW_SECONDS = env.int("ENROLMENT_FAILURE_WINDOW_SECONDS", 900, minimum=60)
# A chat channel's (Slack's or Mattermost's) incoming webhook told the same about every run's end
# (not the welcome). Not the signed run events of WEBHOOK_URLS. NOTIFY_WEBHOOK_URL is its old name.
NOTIFY_CHAT_URL = env.secret("NOTIFY_CHAT_URL") or env.secret("NOTIFY_WEBHOOK_URL")
if NOTIFY_CHAT_URL and not NOTIFY_CHAT_URL.startswith(("https://", "http://")):
    raise ImproperlyConfigured("NOTIFY_CHAT_URL must start with https:// or http://.")
# Admins hear of failed runs, new reconciliation findings and people leaving soon: active users who
# are superusers or in LDAP_ADMIN_GROUP and have an e-mail, and these addresses.
NOTIFY_ADMIN_EMAILS = env.list("NOTIFY_ADMIN_EMAILS")
for _address in NOTIFY_ADMIN_EMAILS:
    if _address.count("@") != 1 or " " in _address or _address.startswith("@"):
        raise ImproperlyConfigured(
            f"NOTIFY_ADMIN_EMAILS holds {_address!r}, which is not an e-mail address."
        )
# A team's leads (and the admins) are told once per end date when a member leaves within this many
# days; beat looks every LEAVING_SOON_CHECK_SECONDS.
LEAVING_SOON_DAYS = env.int("LEAVING_SOON_DAYS", 14, minimum=1)
LEAVING_SOON_CHECK_SECONDS = env.int("LEAVING_SOON_CHECK_SECONDS", 3600, minimum=60)
CELERY_BEAT_SCHEDULE["leaving-soon"] = {
    "task": "notifications.leaving_soon",
    "schedule": float(LEAVING_SOON_CHECK_SECONDS),
}
# Signed webhooks (docs/webhooks.md): each URL gets a JSON POST when a run starts, succeeds, fails
# or is rolled back, signed with HMAC-SHA256 under WEBHOOK_SECRET. Plain http:// is for tests and
# local runs only: the body names people.
WEBHOOK_URLS = env.list("WEBHOOK_URLS")
for _url in WEBHOOK_URLS:
    _parts = urlsplit(_url)
    _schemes = ("https",) if PRODUCTION else ("https", "http")
    try:
        _port_ok = _parts.port is None or _parts.port > 0
    except ValueError:
        _port_ok = False
    if _parts.scheme not in _schemes or not _parts.hostname or not _port_ok:
        # Named by scheme and host only: the rest of a URL may carry a credential.
        _allowed = " or ".join(f"{scheme}://" for scheme in _schemes)
        raise ImproperlyConfigured(
            f"WEBHOOK_URLS holds a URL ({_parts.scheme or 'no scheme'}, host "
            f"{_parts.hostname or 'none'}) that is not {_allowed} with a host and a valid port."
        )
WEBHOOK_SECRET = env.secret("WEBHOOK_SECRET", required=bool(WEBHOOK_URLS))
if WEBHOOK_URLS and len(WEBHOOK_SECRET) < 32:
    raise ImproperlyConfigured("WEBHOOK_SECRET must be at least 32 characters long.")
# How long one delivery waits for the receiver, and the longest Retry-After it honours.
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1)
WEBHOOK_RETRY_AFTER_MAX_SECONDS = env.int("WEBHOOK_RETRY_AFTER_MAX_SECONDS", 600, minimum=0)
if (EMAIL_HOST or NOTIFY_CHAT_URL or WEBHOOK_URLS) and not SITE_URL:
    raise ImproperlyConfigured("SITE_URL must be set for the links in notifications.")

# Downstream systems: the enabled ones, in order (onboarding/systems/registry.py knows the names;
# a dotted path names any other System class). Production must configure each enabled one; local
# runs read them from the sandbox's endpoints.
ACCESSADMIN_SYSTEMS = env.list("ACCESSADMIN_SYSTEMS", ["freeipa", "efs", "iam", "jupyterhub"])
if not ACCESSADMIN_SYSTEMS:
    raise ImproperlyConfigured("ACCESSADMIN_SYSTEMS must name at least one system.")
FREEIPA_ENABLED = "freeipa" in ACCESSADMIN_SYSTEMS
FREEIPA_HOST = env.str("FREEIPA_HOST", required=PRODUCTION and FREEIPA_ENABLED)
FREEIPA_CA_FILE = env.str("FREEIPA_CA_FILE")
FREEIPA_USERNAME = env.str("FREEIPA_USERNAME", "admin")
FREEIPA_PASSWORD = env.secret("FREEIPA_PASSWORD", required=PRODUCTION and FREEIPA_ENABLED)
FREEIPA_REALM = env.str("FREEIPA_REALM", "EXAMPLE.TEST")
# FREEIPA_USERNAME is in FreeIPA's passSyncManagersDNs: enrolment may then set the person's
# password itself when a grace limit of 0 refuses their expired temporary one (README: First login).
FREEIPA_PASS_SYNC = env.bool("FREEIPA_PASS_SYNC", False)

AWS_REGION = env.str("AWS_REGION", "eu-west-1")
AWS_ENDPOINT_URL = env.url("AWS_ENDPOINT_URL", schemes=("http", "https"))
EFS_FILE_SYSTEM_ID = env.str(
    "EFS_FILE_SYSTEM_ID", required=PRODUCTION and "efs" in ACCESSADMIN_SYSTEMS
)
IAM_SAML_PROVIDER_ARN = env.str(
    "IAM_SAML_PROVIDER_ARN", required=PRODUCTION and "iam" in ACCESSADMIN_SYSTEMS
)
# The SAML audiences (Recipient URLs) a role's trust accepts: the global sign-in endpoint, and
# any regional one (https://<region>.signin.aws.amazon.com/saml) the identity provider uses.
IAM_SAML_AUDIENCES = env.list("IAM_SAML_AUDIENCES", ["https://signin.aws.amazon.com/saml"])
IAM_ROLE_PREFIX = env.str("IAM_ROLE_PREFIX", "accessadmin-")
IAM_ROLE_PATH = env.str("IAM_ROLE_PATH", "/accessadmin/")
S3_DATA_BUCKET = env.str("S3_DATA_BUCKET", "ml-platform-data")

JUPYTERHUB_URL = env.url("JUPYTERHUB_URL", schemes=("http", "https"))
JUPYTERHUB_ENABLED = "jupyterhub" in ACCESSADMIN_SYSTEMS
JUPYTERHUB_API_TOKEN = env.secret(
    "JUPYTERHUB_API_TOKEN", required=PRODUCTION and JUPYTERHUB_ENABLED
)
if PRODUCTION and JUPYTERHUB_ENABLED and not JUPYTERHUB_URL:
    raise ImproperlyConfigured("JUPYTERHUB_URL must be set when ACCESSADMIN_ENV is production.")

# PostgreSQL: the administering connection (a role with CREATEROLE and pg_signal_backend, not a
# superuser); its password in the URL or as a secret of its own (POSTGRES_ACCESS_PASSWORD_FILE).
POSTGRES_ENABLED = "postgres" in ACCESSADMIN_SYSTEMS
POSTGRES_ACCESS_URL = env.url("POSTGRES_ACCESS_URL", schemes=("postgres", "postgresql"))
if PRODUCTION and POSTGRES_ENABLED and not POSTGRES_ACCESS_URL:
    raise ImproperlyConfigured(
        "POSTGRES_ACCESS_URL must be set when ACCESSADMIN_ENV is production."
    )
POSTGRES_ACCESS_PASSWORD = env.secret("POSTGRES_ACCESS_PASSWORD")
# On RDS: people log in with IAM tokens, so each person's role is granted rds_iam.
POSTGRES_RDS_IAM = env.bool("POSTGRES_RDS_IAM", False)
POSTGRES_TIMEOUT_SECONDS = env.int("POSTGRES_TIMEOUT_SECONDS", 10, minimum=1)

LDAP_URI = env.url("LDAP_URI", schemes=("ldap", "ldaps"))
if PRODUCTION and not LDAP_URI:
    raise ImproperlyConfigured("LDAP_URI must be set when ACCESSADMIN_ENV is production.")
LDAP_BASE_DN = env.str("LDAP_BASE_DN", "dc=example,dc=test")
LDAP_USER_BASE_DN = env.str("LDAP_USER_BASE_DN", f"cn=users,cn=accounts,{LDAP_BASE_DN}")
LDAP_GROUP_BASE_DN = env.str("LDAP_GROUP_BASE_DN", f"cn=groups,cn=accounts,{LDAP_BASE_DN}")
LDAP_BIND_DN = env.str("LDAP_BIND_DN")
LDAP_BIND_PASSWORD = env.secret("LDAP_BIND_PASSWORD")
LDAP_ADMIN_GROUP = env.str("LDAP_ADMIN_GROUP", "platform-admins")

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = False
    if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # The container's own health probe talks plain HTTP to gunicorn on 127.0.0.1 (the app's port
    # is published nowhere; the proxy redirects to HTTPS itself): /healthz alone is not redirected.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# How many proxies in front of the app append to X-Forwarded-For: 0 (the default) trusts none and
# takes REMOTE_ADDR; 1 behind docker-compose's Caddy, which sets it to the address it saw. The
# client is the entry that many from the right; logins, lockouts and the audit trail use it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", 0, minimum=0)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# LOG_FORMAT=json writes one JSON object per line, with the run, step and worker in hand
# (onboarding/logs.py); text is for people reading a terminal.
LOG_FORMAT = env.choice("LOG_FORMAT", ("json", "text"), "json" if PRODUCTION else "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "onboarding.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", "INFO")},
    # Its DEBUG lines carry request parameters, passwords among them.
    "loggers": {
        "python_freeipa": {"level": "WARNING"},
        "botocore.credentials": {"level": "WARNING"},  # "Found credentials" on every start
    },
}
# The worker logs through the handler above (JSON in production) instead of Celery's own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# GET /metrics (Prometheus text format) answers only a scraper sending this bearer token; unset,
# the page does not exist.
METRICS_TOKEN = env.secret("METRICS_TOKEN")
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_TOKEN must be at least 32 characters long.")

# Error tracking: set SENTRY_DSN (or SENTRY_DSN_FILE) to send unhandled errors of the web, the
# worker and beat to Sentry or any server speaking its protocol. Nothing that may hold a secret
# leaves: no local variables (a temporary password is one), no request bodies (the login form),
# no cookies or user details.
SENTRY_DSN = env.secret("SENTRY_DSN")
if SENTRY_DSN:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", ENVIRONMENT),
        traces_sample_rate=float(env.str("SENTRY_TRACES_SAMPLE_RATE", "0")),
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
    )

# Web login and security ---------------------------------------------------------------------
# Staff log in with their FreeIPA account (django-auth-ldap); a local superuser made with
# `createsuperuser` is the break-glass login for when the directory is down.
from datetime import timedelta  # noqa: E402

import ldap  # noqa: E402
from csp.constants import NONE, SELF  # noqa: E402
from django_auth_ldap.config import LDAPSearch, NestedGroupOfNamesType  # noqa: E402

INSTALLED_APPS += ["django_htmx", "axes"]
MIDDLEWARE += [
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]
TEMPLATES[0]["OPTIONS"]["context_processors"].append("web.permissions.access_context")

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "web.auth.DirectoryBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_LDAP_SERVER_URI = LDAP_URI
AUTH_LDAP_BIND_DN = LDAP_BIND_DN
AUTH_LDAP_BIND_PASSWORD = LDAP_BIND_PASSWORD
AUTH_LDAP_USER_DN_TEMPLATE = f"uid=%(user)s,{LDAP_USER_BASE_DN}"
AUTH_LDAP_USER_ATTR_MAP = {"first_name": "givenName", "last_name": "sn", "email": "mail"}
AUTH_LDAP_GROUP_SEARCH = LDAPSearch(
    LDAP_GROUP_BASE_DN, ldap.SCOPE_SUBTREE, "(objectClass=groupOfNames)"
)
AUTH_LDAP_GROUP_TYPE = NestedGroupOfNamesType(name_attr="cn")
# Only the admin group is copied into Django's groups, and it is re-read at every login.
AUTH_LDAP_MIRROR_GROUPS = [LDAP_ADMIN_GROUP]
# A directory that does not answer must not hold the login page hostage.
AUTH_LDAP_CONNECTION_OPTIONS = {ldap.OPT_NETWORK_TIMEOUT: 5, ldap.OPT_TIMEOUT: 10}
AUTH_LDAP_START_TLS = env.bool("LDAP_START_TLS", default=False)
# The CA the directory's certificate must chain to (ldaps:// or StartTLS): web/directory.py's own
# connections use these options too. OPT_X_TLS_NEWCTX comes last: it builds the TLS context from
# the options set before it.
LDAP_CA_FILE = env.str("LDAP_CA_FILE")
if LDAP_CA_FILE:
    AUTH_LDAP_CONNECTION_OPTIONS.update(
        {
            ldap.OPT_X_TLS_CACERTFILE: LDAP_CA_FILE,
            ldap.OPT_X_TLS_REQUIRE_CERT: ldap.OPT_X_TLS_DEMAND,
            ldap.OPT_X_TLS_NEWCTX: 0,
        }
    )

AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "web.lockouts.LockoutHandler"
# One account guessed from many addresses, one address spraying many accounts (0: no limit).
LOGIN_FAILURE_LIMIT_PER_USERNAME = env.int("LOGIN_FAILURE_LIMIT_PER_USERNAME", 20, minimum=0)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env.int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", 50, minimum=0)
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
# No "AXES: BEGIN version ..." line at every start of every command; lockouts are still logged.
AXES_VERBOSE = False
# Failures count per person however they type their name, and per client behind the proxy.
AXES_USERNAME_CALLABLE = "web.auth.lockout_username"
AXES_CLIENT_IP_CALLABLE = "web.auth.lockout_address"

SESSION_COOKIE_AGE = env.int("SESSION_HOURS", 8, minimum=1) * 3600
# How old the directory's word on a staff account's rights may be (admin group, managed groups,
# disabled): lost rights take effect within this.
RIGHTS_CACHE_SECONDS = env.int("RIGHTS_CACHE_SECONDS", 60, minimum=0)
if RIGHTS_CACHE_SECONDS > 60:
    raise ImproperlyConfigured("RIGHTS_CACHE_SECONDS may be at most 60.")
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
    }
}
if PRODUCTION:
    # Preloading commits the whole domain to HTTPS for good: the operator's decision, not ours.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]

# `manage.py check --deploy` refuses plaintext connections to the directory and the hub.
from accessadmin import checks  # noqa: E402, F401
