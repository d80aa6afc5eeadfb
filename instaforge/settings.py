"""InstaForge settings: everything comes from the environment (12-factor).

Production is the default and fails closed: DEBUG is off unless set, a missing required setting
(SECRET_KEY, ALLOWED_HOSTS, SITE_URL, TOKEN_ENCRYPTION_KEYS, the INSTAGRAM_* app settings) fails at
start, the published demo values are refused, and Instagram means Meta's own URLs unless
INSTAGRAM_SANDBOX says the local emulator is meant. The demo (`make up`) sets DEBUG=true, which
brings the demo's defaults: SQLite, django-q2's ORM broker, the local Instagram sandbox.
"""

import ipaddress
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

# Lets generic Django classes be subscripted (ModelForm[Model]) at run time, for mypy.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Off unless set: a process started without configuration is a production process and fails closed.
# The demo (`make up`) and the test suite turn it on explicitly.
DEBUG = env.bool("DEBUG", default=False)

# Demo-only values, published in this repository: the demo's defaults, refused outside DEBUG even when set.
_DEMO_SECRET_KEY = "insecure-demo-key-change-me-in-production-0123456789"
_DEMO_TOKEN_KEY = "aW5zdGFmb3JnZS1kZW1vLWtleS1sb2NhbC1vbmx5ISE="
_DEMO_APP_SECRET = "sandbox-app-secret"
_DEMO_APP_ID = "sandbox-app-id"
_DEMO_VERIFY_TOKEN = "sandbox-verify-token"
_DEMO_VALUES = frozenset({_DEMO_SECRET_KEY, _DEMO_TOKEN_KEY, _DEMO_APP_SECRET, _DEMO_APP_ID, _DEMO_VERIFY_TOKEN})


def _refuse_demo_value(name: str, value: str) -> str:
    if not DEBUG and value in _DEMO_VALUES:
        raise ImproperlyConfigured(
            f"{name} is the demo's published value: set a secret of your own (DEBUG is off, this is production)."
        )
    return value


def _required(name: str, demo_default: str) -> str:
    """The setting from the environment; the demo's value only in DEBUG; never a demo value outside it."""
    value: str = env.str(name, default="")
    if value:
        return _refuse_demo_value(name, value)
    if DEBUG:
        return demo_default
    raise ImproperlyConfigured(f"{name} must be set in the environment when DEBUG is off.")


SECRET_KEY = _required("SECRET_KEY", _DEMO_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else [])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in the environment when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The demo's ports (`make up`, Procfile): the web app and the Instagram sandbox; their URLs follow them in DEBUG.
WEB_PORT = env.int("WEB_PORT", default=8000)
SANDBOX_PORT = env.int("SANDBOX_PORT", default=8001)
SITE_URL = _required("SITE_URL", f"http://127.0.0.1:{WEB_PORT}").rstrip("/")
# Customer URLs (CRM webhooks, flow webhooks, AI endpoints) may lead to private addresses (instaforge/outbound.py):
# only for development, where the demo's and the tests' servers listen on 127.0.0.1.
OUTBOUND_ALLOW_PRIVATE_URLS = env.bool("OUTBOUND_ALLOW_PRIVATE_URLS", default=DEBUG)

INSTALLED_APPS = [
    # Unfold without its own admin site: instaforge.admin_apps installs InstaForge's (a subclass of Unfold's).
    "unfold.apps.BasicAppConfig",
    "unfold.contrib.filters",
    "instaforge.admin_apps.InstaForgeAdminConfig",  # django.contrib.admin, entered through allauth (+ MFA)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    # Before django_q: its `qcluster` command is InstaForge's (instaforge/management/commands/qcluster.py).
    "instaforge",  # the project's own management commands (schedules_sync, qcluster)
    "django_q",
    "csp",
    "accounts",
    "instagram",
    "actions",
    "safety",
    "engagement",
    "messaging",
    "warmup",
    "integrations",
    "sandbox",
    "publishing",
    "observability",  # heartbeats, /healthz, /readyz, /metrics
    "alerts",  # conditions watched by a sweep, told by email and Slack (docs/features/alerts.md)
    "analytics",  # the analytics pages, Meta's insights (docs/features/analytics.md)
    "privacy",  # Meta's deletion callbacks, disconnect and delete, retention (docs/features/data-lifecycle.md)
    "auditlog",  # django-auditlog: who changed or deleted what (workspaces, accounts, members)
    "devtools",  # demo_setup, seeding, stress and benchmark support: no product app imports it
]

MIDDLEWARE = [
    # First: one correlation id per request (X-Request-ID in and out), on every log line the request writes.
    "instaforge.correlation.CorrelationIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "instaforge.csp.ContentSecurityPolicyMiddleware",
    # A NUL anywhere in a request (path, query, cookies, form fields, file names) is a 400 before any view.
    "instaforge.middleware.NulCharacterMiddleware",
    # Meta's webhook deliveries go to their view from here: what follows serves pages (instagram/middleware.py).
    "instagram.middleware.WebhookLaneMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.WorkspaceMiddleware",
    # The member's own zone (User.time_zone) for every time a page shows or a form reads.
    "accounts.middleware.TimeZoneMiddleware",
    # django-auditlog: the signed-in user is the actor of the audit entries a request writes.
    "auditlog.middleware.AuditlogMiddleware",
]
# An audit entry carries the correlation id of the request or task that wrote it (the X-Request-ID on its log
# lines), so the admin's "correlation id" filter leads from an entry to everything else that request did.
AUDITLOG_CID_GETTER = "instaforge.correlation.correlation_id"

ROOT_URLCONF = "instaforge.urls"

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
                "accounts.context_processors.workspace",
            ],
        },
    },
]

WSGI_APPLICATION = "instaforge.wsgi.application"

# --- Database -------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Kept connections, on both databases: opening one (on SQLite the file, WAL mode, the pragmas) cost the
# sandbox more CPU than answering the call it opened it for.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, dispatcher, sandbox) share the file:
    # WAL lets readers run beside the writer, IMMEDIATE takes the write lock
    # at BEGIN so two writers queue instead of failing half-way.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
    }
    # The test database's file; SQLITE_TEST_DB lets two suites run side by side in one checkout.
    DATABASES["default"]["TEST"] = {"NAME": env.str("SQLITE_TEST_DB", default=str(BASE_DIR / "test_db.sqlite3"))}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Prepared statements: a statement run 5 times on a connection is prepared there, and PostgreSQL then
    # skips parsing and planning it. The dispatcher, the workers and the sandbox run the same few
    # statements thousands of times: PostgreSQL's CPU per executed action fell by about a quarter
    # (bench/dispatch.py). They need server-side parameter binding. Set DATABASE_PREPARED_STATEMENTS=false
    # behind a pooler that cannot keep them (PgBouncer in transaction mode before 1.21).
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
DATABASE_VENDOR = "sqlite" if "sqlite" in DATABASES["default"]["ENGINE"] else "postgresql"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Broker and cache -----------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")

Q_CLUSTER: dict[str, object] = {
    "name": "instaforge",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 60,  # below retry: a task is never delivered twice while it still runs
    "retry": 90,
    "max_attempts": 5,
    # Successful task results are not kept by default: each app keeps its own record (inbound events'
    # state and outcome, the action ledger), and storing and pruning them cost more CPU than the task.
    # Failures are always kept.
    "save_limit": env.int("Q_SAVE_LIMIT", default=-1),
    "ack_failures": True,
    "catch_up": False,
    "poll": 0.2,
    "sync": env.bool("Q_SYNC", default=False),
    "log_level": env.str("LOG_LEVEL", default="INFO"),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    Q_CLUSTER["orm"] = "default"
    # The default cache holds the login rate limits (allauth): it must be shared by every web process
    # (gunicorn -w 4 would otherwise allow 4 times the tries), so without Redis it is a database table
    # (created by migrate: instaforge/migrations/0001_cache_table.py). django-q2's cluster
    # statistics, written every half second, stay in a per-process cache, as they always were.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "instaforge_cache",
            # Room enough that a flood of other keys cannot cull an account's failed-login count early.
            "OPTIONS": {"MAX_ENTRIES": 50_000},
        },
        "cluster_stats": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    Q_CLUSTER["cache"] = "cluster_stats"
BROKER_NAME = "redis" if REDIS_URL else "orm"

# --- Auth (django-allauth) ------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
# No account enumeration: signing up with an address that has an account looks exactly like a new sign-up
# ("check your email"; the owner is mailed that the account exists), and a password reset looks the same for
# any address (an unknown one is mailed that there is no account). allauth can only do the former when the
# address must be verified before the first login, hence "mandatory" (not configurable for that reason).
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = True
# The link logs in only the browser session that signed up (allauth keeps the pending login there).
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_GET = False
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "InstaForge"
# Staff need a second factor (TOTP) to open the admin. Unset: on whenever DEBUG is off, read at each request
# (instaforge/admin_site.py). A staff user who has one must have used it in the session either way.
ADMIN_REQUIRE_MFA = env.bool("ADMIN_REQUIRE_MFA", default=None)
# How many proxies in front of the web processes append to X-Forwarded-For. 0: the client is REMOTE_ADDR and
# X-Forwarded-For is ignored (a client could write anything there). N: the N-th address from the right, the
# one the outermost trusted proxy saw. Used for the login, sign-up and password-reset rate limits per address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"  # the client address with too few X-Forwarded-For entries

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="InstaForge <noreply@instaforge.local>")

# --- I18N / static ----------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Uploaded media (scheduled posts): local disk by default, set AWS_STORAGE_BUCKET_NAME (with django-storages
# and boto3 installed) for any S3-compatible store. Never public: members see their workspace's files through
# the app, and Meta fetches a file through a signed URL (PUBLIC_BASE_URL/media/signed/..., or S3's presigned
# URL) valid MEDIA_SIGNED_URL_SECONDS. Meta fetches while it processes the container, which starts when the
# container is created; a container that expires unpublished is prepared again with fresh URLs.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "/media/"  # nothing is served here: FileField.url is not used for post media
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default=SITE_URL).rstrip("/")
MEDIA_SIGNED_URL_SECONDS = env.int("MEDIA_SIGNED_URL_SECONDS", default=3600)
# django-storages' S3Storage reads these Django settings (names as in django-storages 1.14); docs/operations.md,
# "Media storage", has AWS S3, MinIO and Cloudflare R2 examples. Several web hosts need this shared store: a
# file uploaded on one host's disk is missing on the others.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
# Empty: AWS itself (the region's endpoint); else the store's address. Meta fetches presigned URLs on this host.
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="") or None
# Unset: boto3's own chain finds the credentials (AWS_SESSION_TOKEN too, ~/.aws, the instance's or task's role).
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="") or None
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="") or None
# "path" (bucket in the path: MinIO), "virtual" (bucket in the host name) or unset (boto3 chooses).
AWS_S3_ADDRESSING_STYLE = env.str("AWS_S3_ADDRESSING_STYLE", default="") or None
if AWS_S3_ADDRESSING_STYLE not in {None, "auto", "path", "virtual"}:
    raise ImproperlyConfigured("AWS_S3_ADDRESSING_STYLE must be path, virtual or auto (or unset).")
AWS_LOCATION = env.str("AWS_LOCATION", default="").strip("/")  # a key prefix, for a bucket shared with others
# Private objects (the bucket's own access), reached only through presigned URLs signed with Signature V4
# (X-Amz-Signature, as AWS S3, MinIO and Cloudflare R2 take it), valid as long as InstaForge's own signed URLs.
AWS_QUERYSTRING_AUTH = True
AWS_QUERYSTRING_EXPIRE = MEDIA_SIGNED_URL_SECONDS
AWS_S3_SIGNATURE_VERSION = "s3v4"
AWS_DEFAULT_ACL = None
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}

# --- Security for production ------------------------------------------------
# On by default outside DEBUG (`manage.py check --deploy` is clean); each can be turned off, for example
# SECURE_SSL_REDIRECT when the proxy in front already redirects, or HSTS while a domain is tried out.
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
# Probes and scrapers call each host directly over plain HTTP (docs/operations.md, "Health and metrics").
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Content-Security-Policy (django-csp): scripts only from this site's own static files, never inline.
# Inline styles stay allowed (templates use style attributes; styles cannot run code). The admin's
# Alpine.js (django-unfold) evaluates its attribute expressions, so /admin/ adds 'unsafe-eval' alone
# (instaforge.csp.ContentSecurityPolicyMiddleware).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "https:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Instagram (Meta) -----------------------------------------------------
SANDBOX_URL = env.str("SANDBOX_URL", default=f"http://127.0.0.1:{SANDBOX_PORT}").rstrip("/")
# The local Instagram emulator (sandbox/) stands in for Meta: the demo (DEBUG) and the benchmarks say so.
# Off, the Graph and OAuth URLs are Meta's own, and a local or plain-HTTP one is refused at start.
INSTAGRAM_SANDBOX = env.bool("INSTAGRAM_SANDBOX", default=DEBUG)
INSTAGRAM_APP_ID = (
    _required("INSTAGRAM_APP_ID", _DEMO_APP_ID)
    if not INSTAGRAM_SANDBOX
    else env.str("INSTAGRAM_APP_ID", default=_DEMO_APP_ID)
)
INSTAGRAM_APP_SECRET = _required("INSTAGRAM_APP_SECRET", _DEMO_APP_SECRET)
INSTAGRAM_WEBHOOK_VERIFY_TOKEN = _required("INSTAGRAM_WEBHOOK_VERIFY_TOKEN", _DEMO_VERIFY_TOKEN)
_graph_default = SANDBOX_URL if INSTAGRAM_SANDBOX else "https://graph.instagram.com"
_authorize_default = (
    f"{SANDBOX_URL}/oauth/authorize" if INSTAGRAM_SANDBOX else "https://www.instagram.com/oauth/authorize"
)
_token_default = (
    f"{SANDBOX_URL}/oauth/access_token" if INSTAGRAM_SANDBOX else "https://api.instagram.com/oauth/access_token"
)
INSTAGRAM_GRAPH_URL = env.str("INSTAGRAM_GRAPH_URL", default=_graph_default).rstrip("/")
INSTAGRAM_API_VERSION = env.str("INSTAGRAM_API_VERSION", default="v26.0")
INSTAGRAM_OAUTH_AUTHORIZE_URL = env.str("INSTAGRAM_OAUTH_AUTHORIZE_URL", default=_authorize_default)
INSTAGRAM_OAUTH_TOKEN_URL = env.str("INSTAGRAM_OAUTH_TOKEN_URL", default=_token_default)


def _refuse_local_instagram_url(name: str, url: str) -> None:
    """Outside the sandbox, Instagram is reached over HTTPS on a public host, never the emulator or this machine."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        local = not ipaddress.ip_address(host).is_global
    except ValueError:
        local = host in {"", "localhost"} or host.endswith((".localhost", ".local", ".internal"))
    if parts.scheme != "https" or local or url.startswith(SANDBOX_URL):
        raise ImproperlyConfigured(
            f"{name}={url!r} is not Meta's: outside the sandbox it must be an https URL on a public host. "
            "Set INSTAGRAM_SANDBOX=true if the local Instagram emulator is meant."
        )


if not INSTAGRAM_SANDBOX:
    for _name in ("INSTAGRAM_GRAPH_URL", "INSTAGRAM_OAUTH_AUTHORIZE_URL", "INSTAGRAM_OAUTH_TOKEN_URL"):
        _refuse_local_instagram_url(_name, globals()[_name])
INSTAGRAM_OAUTH_SCOPES = env.list(
    "INSTAGRAM_OAUTH_SCOPES",
    default=[
        "instagram_business_basic",
        "instagram_business_manage_comments",
        "instagram_business_manage_messages",
        "instagram_business_content_publish",
        "instagram_business_manage_insights",
    ],
)
INSTAGRAM_HTTP_TIMEOUT = env.float("INSTAGRAM_HTTP_TIMEOUT", default=10.0)

# Comma-separated Fernet keys, newest first (MultiFernet): add a new key in
# front, run rotate_token_keys later, then drop the old one.
TOKEN_ENCRYPTION_KEYS = [
    _refuse_demo_value("TOKEN_ENCRYPTION_KEYS", key.strip())
    for key in _required("TOKEN_ENCRYPTION_KEYS", _DEMO_TOKEN_KEY).split(",")
    if key.strip()
]

# The sandbox works out its X-App-Usage figures at most this often per process (they count the last hour),
# and keeps each account's 24-hour call count between reads (sandbox.selectors.business_calls_counted).
SANDBOX_USAGE_CACHE_SECONDS = env.float("SANDBOX_USAGE_CACHE_SECONDS", default=1.0)
# How long the sandbox's process keeps its knobs and a "no fault active" answer (its own writes clear them).
SANDBOX_KNOBS_CACHE_SECONDS = env.float("SANDBOX_KNOBS_CACHE_SECONDS", default=1.0)
# Where the sandbox delivers its webhooks (the product's endpoint).
SANDBOX_WEBHOOK_URL = env.str("SANDBOX_WEBHOOK_URL", default=f"{SITE_URL}/webhooks/instagram/")
# Where the sandbox sends Meta's deauthorize and data deletion callbacks (its "Remove app" and "Delete my data").
SANDBOX_DEAUTHORIZE_URL = env.str("SANDBOX_DEAUTHORIZE_URL", default=f"{SITE_URL}/instagram/deauthorize/")
SANDBOX_DATA_DELETION_URL = env.str("SANDBOX_DATA_DELETION_URL", default=f"{SITE_URL}/instagram/data-deletion/")

# --- Safety / actions -------------------------------------------------------
POLICIES_FILE = env.path("POLICIES_FILE", default=BASE_DIR / "config" / "policies.yaml")
# How long a dispatcher keeps an account's safety settings (overrides, kill switches) before reading them again.
SAFETY_SETTINGS_CACHE_SECONDS = env.float("SAFETY_SETTINGS_CACHE_SECONDS", default=1.0)
HUMAN_TIMING = env.bool("HUMAN_TIMING", default=True)  # false: automated answers without human delays
DISPATCHER_POLL_SECONDS = env.float("DISPATCHER_POLL_SECONDS", default=0.5)
# Work planned due now wakes idle dispatchers (PostgreSQL LISTEN/NOTIFY; on SQLite only this process's own):
# actions/dispatcher/wake.py. The poll stays the fallback.
DISPATCHER_WAKE = env.bool("DISPATCHER_WAKE", default=True)
DISPATCHER_LEASE_SECONDS = env.int("DISPATCHER_LEASE_SECONDS", default=60)
INBOUND_SWEEP_AFTER_SECONDS = env.int("INBOUND_SWEEP_AFTER_SECONDS", default=60)
# Events a worker claims and handles together (instagram/tasks.py, docs/performance.md): the batched inbound path.
INBOUND_BATCH_SIZE = env.int("INBOUND_BATCH_SIZE", default=100)
if INBOUND_BATCH_SIZE < 1:
    raise ImproperlyConfigured("INBOUND_BATCH_SIZE must be at least 1.")
# Meta retries a failed webhook delivery with decreasing frequency for a while (36 h in the
# Graph API webhooks guide); a change older than that is a replay, not a retry: logged, not stored.
INSTAGRAM_WEBHOOK_RETRY_HORIZON_HOURS = env.int("INSTAGRAM_WEBHOOK_RETRY_HORIZON_HOURS", default=36)

# --- Health and metrics (observability/, docs/operations.md "Health and metrics") --------------------------
# /readyz: a role whose newest heartbeat is older than this is down; the oldest unprocessed inbound event and
# the oldest overdue action may be this old before the deployment is not ready.
HEALTH_DISPATCHER_MAX_AGE_SECONDS = env.int("HEALTH_DISPATCHER_MAX_AGE_SECONDS", default=60)
HEALTH_WORKER_MAX_AGE_SECONDS = env.int("HEALTH_WORKER_MAX_AGE_SECONDS", default=180)
HEALTH_SCHEDULER_MAX_AGE_SECONDS = env.int("HEALTH_SCHEDULER_MAX_AGE_SECONDS", default=180)
HEALTH_INBOUND_MAX_AGE_SECONDS = env.int("HEALTH_INBOUND_MAX_AGE_SECONDS", default=300)
HEALTH_OVERDUE_ACTION_MAX_AGE_SECONDS = env.int("HEALTH_OVERDUE_ACTION_MAX_AGE_SECONDS", default=900)
# /metrics: a bearer token, and/or networks (CIDR) allowed without one. Neither: closed unless DEBUG.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = [
    ipaddress.ip_network(network, strict=False) for network in env.list("METRICS_ALLOWED_NETWORKS", default=[])
]
# prometheus-client's multiprocess mode: the same directory for every process of a host (web, worker,
# dispatcher), emptied before they start. Unset: /metrics shows the answering process's own counters.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")

# --- Alerts (alerts/, docs/features/alerts.md) ---------------------------------------------------------------
# Platform alerts (heartbeats, the inbound backlog, the global kill switch, suspensions) are emailed to these
# addresses; empty: to every active staff user. And posted to this Slack-compatible incoming webhook, if set.
ALERTS_OPERATOR_EMAILS = env.list("ALERTS_OPERATOR_EMAILS", default=[])
ALERTS_SLACK_WEBHOOK_URL = env.str("ALERTS_SLACK_WEBHOOK_URL", default="")

# --- Retention (privacy/retention.py, docs/features/data-lifecycle.md) -------------------------------------
# Days each kind of data is kept before the schedule "privacy: prune by retention" deletes it, in small batches.
# 0 keeps that kind forever; a negative number is refused. A redelivered webhook is recognised, in turn, by its
# inbound event (dedupe key), its comment or message (Meta's id) and its actions' idempotency keys, and
# ``instagram.services.webhook_store`` refuses a change older than Meta's retry horizon (the backfill's too: it
# stores through the same call, with Instagram's time of each comment and message). So each of those four kinds
# is kept at least that horizon plus a day of margin (clock skew, a retry right at the end): nothing that can
# still arrive finds its earlier copy gone. Shorter is refused at start.
RETENTION_DEDUPE_MIN_DAYS = -(-(INSTAGRAM_WEBHOOK_RETRY_HORIZON_HOURS + 24) // 24)  # ceil: 36 h + 24 h → 3 days
# The safety engine reads its events of the last 24 hours (safety.risk.WINDOW) and of the rate-limit window.
RETENTION_SAFETY_EVENTS_MIN_DAYS = 2


def _retention_days(name: str, default: int, *, minimum: int = 1, why: str = "") -> int:
    """A retention period in days from the environment: 0 (forever), or at least ``minimum``."""
    days: int = env.int(name, default=default)
    if days < 0:
        raise ImproperlyConfigured(f"{name}={days}: a retention period is a number of days, or 0 to keep forever.")
    if 0 < days < minimum:
        raise ImproperlyConfigured(
            f"{name}={days} is too short: at least {minimum} days ({why}), or 0 to keep forever."
        )
    return days


_DEDUPE_WHY = (
    f"Meta redelivers a webhook for {INSTAGRAM_WEBHOOK_RETRY_HORIZON_HOURS} hours "
    "(INSTAGRAM_WEBHOOK_RETRY_HORIZON_HOURS) plus a day of margin: a redelivery must still find it, "
    "or its reply would be sent twice"
)
RETENTION_INBOUND_EVENTS_DAYS = _retention_days(
    "RETENTION_INBOUND_EVENTS_DAYS", 30, minimum=RETENTION_DEDUPE_MIN_DAYS, why=_DEDUPE_WHY
)
RETENTION_COMMENTS_DAYS = _retention_days(
    "RETENTION_COMMENTS_DAYS", 365, minimum=RETENTION_DEDUPE_MIN_DAYS, why=_DEDUPE_WHY
)
RETENTION_MESSAGES_DAYS = _retention_days(
    "RETENTION_MESSAGES_DAYS", 365, minimum=RETENTION_DEDUPE_MIN_DAYS, why=_DEDUPE_WHY
)
RETENTION_ACTIONS_DAYS = _retention_days(
    "RETENTION_ACTIONS_DAYS", 365, minimum=RETENTION_DEDUPE_MIN_DAYS, why=_DEDUPE_WHY
)
RETENTION_DECISIONS_DAYS = _retention_days("RETENTION_DECISIONS_DAYS", 90)
RETENTION_CRM_DELIVERIES_DAYS = _retention_days("RETENTION_CRM_DELIVERIES_DAYS", 30)
RETENTION_CONVERSATION_EVENTS_DAYS = _retention_days("RETENTION_CONVERSATION_EVENTS_DAYS", 365)
RETENTION_POST_EVENTS_DAYS = _retention_days("RETENTION_POST_EVENTS_DAYS", 365)
RETENTION_SAFETY_EVENTS_DAYS = _retention_days(
    "RETENTION_SAFETY_EVENTS_DAYS",
    180,
    minimum=RETENTION_SAFETY_EVENTS_MIN_DAYS,
    why="the safety engine scores an account on its events of the last 24 hours",
)
RETENTION_ALERTS_DAYS = _retention_days("RETENTION_ALERTS_DAYS", 90)
RETENTION_DELETION_REQUESTS_DAYS = _retention_days("RETENTION_DELETION_REQUESTS_DAYS", 365)
RETENTION_AUDIT_LOG_DAYS = _retention_days("RETENTION_AUDIT_LOG_DAYS", 365)
# Rows per batch (one short transaction each), and how long one run may delete before it leaves the rest to the
# next run: below django-q2's task timeout (Q_CLUSTER "timeout"), so the task is never killed mid-batch.
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=500)
RETENTION_MAX_SECONDS = env.float("RETENTION_MAX_SECONDS", default=40.0)
if RETENTION_BATCH_SIZE < 1:
    raise ImproperlyConfigured(f"RETENTION_BATCH_SIZE={RETENTION_BATCH_SIZE}: at least 1 row per batch.")
if not 0 < RETENTION_MAX_SECONDS < int(str(Q_CLUSTER["timeout"])):
    raise ImproperlyConfigured(
        f"RETENTION_MAX_SECONDS={RETENTION_MAX_SECONDS}: more than 0 and below the task timeout "
        f"({Q_CLUSTER['timeout']} s), or the worker kills the prune mid-batch."
    )

# --- Admin (django-unfold) -------------------------------------------------
UNFOLD = {
    "SITE_TITLE": "InstaForge operations",
    "SITE_HEADER": "InstaForge",
    "SITE_SYMBOL": "shield",
    # The admin's index is the operators' console (docs/operations.md, "The operators' console").
    "DASHBOARD_CALLBACK": "observability.dashboard.dashboard_callback",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        "navigation": [
            {
                "title": "Operations",
                "items": [
                    {"title": "Review queue", "icon": "policy", "link": "/admin/accounts/suspendedaccount/"},
                    {"title": "Open alerts", "icon": "notifications", "link": "/admin/alerts/alert/?status=open"},
                    {
                        "title": "Instagram accounts",
                        "icon": "photo_camera",
                        "link": "/admin/accounts/instagramaccount/",
                    },
                    {"title": "Action ledger", "icon": "receipt_long", "link": "/admin/actions/action/"},
                    {"title": "Inbound events", "icon": "inbox", "link": "/admin/instagram/inboundevent/"},
                    {"title": "Workspaces", "icon": "groups", "link": "/admin/accounts/workspace/"},
                    {"title": "Audit log", "icon": "history", "link": "/admin/auditlog/logentry/"},
                ],
            },
        ],
    },
}

# JSON lines (one object a line: docs/operations.md, "Logs") in production; text for the demo and development.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or text.")
# Error tracking: Sentry when SENTRY_DSN is set (instaforge/error_tracking.py); otherwise Django mails the
# server errors to ADMINS ("Name <address>" or an address, comma-separated), from SERVER_EMAIL.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
ADMINS = [parseaddr(admin) for admin in env.list("ADMINS", default=[])]
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
if SENTRY_DSN:
    # Imported only with a DSN: sentry-sdk takes a tenth of a second to import, in every process and command.
    from instaforge.error_tracking import error_tracking_init

    error_tracking_init(dsn=SENTRY_DSN, environment=env.str("SENTRY_ENVIRONMENT", default="production"))

# Every handler redacts secrets (message, arguments, traceback; in JSON every field too) and adds the
# correlation id and the workspace, account and action ids bound where the line is written.
_LOG_FILTERS = ["redact_secrets", "log_context"]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact_secrets": {"()": "instaforge.logfilters.SecretsRedactingFilter"},
        "log_context": {"()": "instaforge.correlation.LogContextFilter"},
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s%(log_context)s: %(message)s"},
        "server": {"()": "django.utils.log.ServerFormatter", "format": "[{server_time}] {message}", "style": "{"},
        "json": {"()": "instaforge.logfilters.JsonLogFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": _LOG_FILTERS,
        },
        # The web server's and the sandbox's request lines: tokens travel in query strings there.
        "server": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "server",
            "filters": _LOG_FILTERS,
        },
        "mail_admins": {
            "level": "ERROR",
            "class": "instaforge.logfilters.RedactingAdminEmailHandler",
            "filters": ["require_debug_false", "redact_secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's own records reach the console through the root (one format); its server errors are mailed
        # to ADMINS unless Sentry has them.
        "django": {"handlers": [] if SENTRY_DSN else ["mail_admins"], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        # SERVER_LOG_LEVEL=WARNING keeps only failed requests (the benchmarks: a line per call costs CPU).
        "django.server": {
            "handlers": ["server"],
            "level": env.str("SERVER_LOG_LEVEL", default="INFO"),
            "propagate": False,
        },
    },
}
