"""The one settings module, driven by environment variables (django-environ).

With nothing set, the shop runs on its embedded default: SQLite under var/, Celery tasks
run eagerly in-process, mail to the console and a local-memory cache. Tests and production
set DATABASE_URL, CELERY_BROKER_URL (or REDIS_URL) and CACHE_URL to real services.
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

_DEV_SECRET = "insecure-development-key-only-for-debug"  # noqa: S105 - refused below outside DEBUG
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET)
if not DEBUG and (SECRET_KEY == _DEV_SECRET or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured("With DEBUG off the shop needs a real SECRET_KEY (at least 32 random characters).")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "shop.core.admin_apps.ShopAdminConfig",  # django.contrib.admin with the shop's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django.contrib.sitemaps",  # its templates, for /sitemap.xml
    "import_export",
    "treebeard",
    "easy_thumbnails",
    "shop.axes_app.LoginAttemptsConfig",  # django-axes, named for the admin
    "shop",
    "catalog",
    "cart",
    "orders",
    "payments",
    "fulfillment",
    "aftersales",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before the page cache: a page served from the cache gets the Content-Security-Policy too.
    "shop.core.middleware.StaticCSPMiddleware",  # django-csp's, the policy built once
    # 400 for a NUL or other control character in the path, query or form, before anything
    # (the page cache's key, a view's query) reads them.
    "shop.core.middleware.ControlCharacterMiddleware",
    # Serves anonymous catalogue pages from the cache before sessions or locale run.
    "shop.core.pagecache.AnonymousPageCacheMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # A post of the login form takes its password-checking slot here, or is refused (503) at once.
    "shop.accounts.middleware.LoginSlotMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
    # Catalogue pages may read the replica; a client that wrote reads the primary (unused without one).
    "shop.core.dbrouter.ReplicaRoutingMiddleware",
    # A password check that found no free hashing slot: 503 with Retry-After (LOGIN_CONCURRENT_HASHES).
    "shop.accounts.middleware.HashingBusyMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out username + IP pairs
    # Then passwords, refused outright from an address that failed too often across usernames.
    "shop.accounts.backends.AddressThrottledModelBackend",
    "django.contrib.auth.backends.ModelBackend",  # only for sessions signed in before the line above
]

ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"

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
                "django.template.context_processors.i18n",
                "shop.context_processors.shop",
            ],
        },
    },
]

VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'shop.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
# A streaming replica (PostgreSQL): catalogue pages may read from it, see shop/core/dbrouter.py
# for what goes where and how lag is kept out of sight. Unset, everything uses "default".
REPLICA_DATABASE_URL = env.str("REPLICA_DATABASE_URL", default="")
REPLICA_DATABASE_ALIAS = "replica" if REPLICA_DATABASE_URL else ""
if REPLICA_DATABASE_ALIAS:
    DATABASES[REPLICA_DATABASE_ALIAS] = {
        **env.db_url_config(REPLICA_DATABASE_URL),
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        "TEST": {"MIRROR": "default"},
    }
    # A stopped replica refuses at once; an unreachable host must not hold a page for long.
    DATABASES[REPLICA_DATABASE_ALIAS].setdefault("OPTIONS", {})["connect_timeout"] = 2
    DATABASE_ROUTERS = ["shop.core.dbrouter.PrimaryReplicaRouter"]
# A client that wrote reads the primary this long (read-your-writes), and a catalogue write keeps
# everyone's catalogue reads on the primary this long (the caches refill from it); the replica is
# used only while its lag is at most REPLICA_MAX_LAG, measured every REPLICA_CHECK_SECONDS.
REPLICA_PIN_SECONDS = env.int("REPLICA_PIN_SECONDS", default=5)
REPLICA_MAX_LAG = env.float("REPLICA_MAX_LAG", default=2.0)
REPLICA_CHECK_SECONDS = env.float("REPLICA_CHECK_SECONDS", default=1.0)
if REPLICA_PIN_SECONDS < REPLICA_MAX_LAG + REPLICA_CHECK_SECONDS:
    raise ImproperlyConfigured(
        "REPLICA_PIN_SECONDS must be at least REPLICA_MAX_LAG + REPLICA_CHECK_SECONDS: a write must be "
        "on the replica before its pin and fence end."
    )
# Connection pooling (psycopg's pool, per process) to the primary, for the web nodes: DB_POOL_MAX_SIZE=N
# gives each process a pool of at most N connections (CONN_MAX_AGE must be 0 with it). Gunicorn's
# sync workers use one connection at a time, so 2 is plenty: a node holds workers x DB_POOL_MAX_SIZE
# primary connections at most (README, "Cluster"). Not for the replica: a pool keeps waiting
# DB_POOL_TIMEOUT for a server that is down, where a plain connection is refused at once and the
# router falls back (it keeps one persistent connection per process). Celery's prefork workers
# fork after start-up, which a pool's threads do not survive: leave it unset there.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
if DB_POOL_MAX_SIZE and IS_POSTGRES:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=1),
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),  # seconds to wait for a free connection
    }
# The purchase's statements (add to cart, confirm, place) are bound on the server and psycopg
# prepares each once it has run this many times on a connection (shop/core/postgresql); nothing
# else is ever prepared this way. 0: never, for a pooler in transaction mode that cannot keep
# prepared statements (PgBouncer before 1.21).
DB_PREPARE_THRESHOLD = env.int("DB_PREPARE_THRESHOLD", default=2)
if DB_PREPARE_THRESHOLD and IS_POSTGRES:
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = DB_PREPARE_THRESHOLD
# The health check of persistent connections without a round trip while the connection is idle and
# the server has sent nothing (shop/core/postgresql: Django's would add a SELECT 1 to every request).
for _database in DATABASES.values():
    if _database["ENGINE"] == "django.db.backends.postgresql":
        _database["ENGINE"] = "shop.core.postgresql"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "shop.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:overview"
LOGOUT_REDIRECT_URL = "home"

# The client's address. Behind a reverse proxy (nginx in front of gunicorn) every request comes
# from the proxy: list its addresses or networks here (e.g. 127.0.0.1 when nginx runs on the same
# machine) and the client is read from X-Forwarded-For, right to left, skipping these proxies.
# Empty: REMOTE_ADDR, and X-Forwarded-For is never read (anyone can send it). shop.core.net.client_ip
# is what django-axes and django-ratelimit (key="ip") count by.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
try:
    [ipaddress.ip_network(_proxy, strict=False) for _proxy in TRUSTED_PROXIES]
except ValueError as _exc:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_exc} (addresses or networks, comma-separated)") from _exc

# Brute-force protection: 5 failures lock that username from that IP for 15 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_LOCKOUT_TEMPLATE = "shop/accounts/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # the page promises 15 minutes, not more
AXES_CLIENT_IP_CALLABLE = "shop.core.net.client_ip"
# Rate limits (django-ratelimit, counted in the default cache).
RATELIMIT_REGISTER = env.str("RATELIMIT_REGISTER", default="10/h")
RATELIMIT_PLACE_ORDER = env.str("RATELIMIT_PLACE_ORDER", default="30/m")
# After-sales requests opened and messages written per customer: each mails someone.
RATELIMIT_AFTERSALES = env.str("RATELIMIT_AFTERSALES", default="30/h")
RATELIMIT_IP_META_KEY = "shop.core.net.client_ip"
# Failed logins from one address, whatever the usernames (the admin's login included).
RATELIMIT_LOGIN_FAILURES_PER_ADDRESS = env.str("RATELIMIT_LOGIN_FAILURES_PER_ADDRESS", default="20/h")
# Failed logins for one username, whatever the addresses: a botnet spraying one account from many
# addresses, which axes (username + address) never sees twice. Refused before hashing, like the above;
# the owner is held up too until the window ends (a password reset still works), so keep it generous.
RATELIMIT_LOGIN_FAILURES_PER_USERNAME = env.str("RATELIMIT_LOGIN_FAILURES_PER_USERNAME", default="30/h")
# Password checks (logins, registrations) hashing at once on one host, counted in the default cache's
# Redis across processes and nodes of that host: past it a login answers 503 at once instead of
# queueing behind hashes, so a flood of logins cannot take every web worker from the page views.
# Keep it below the web workers of the host; default half its cores (1 on 2 cores), 0 for no bound.
_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
LOGIN_CONCURRENT_HASHES = env.int("LOGIN_CONCURRENT_HASHES", default=max(1, _cores // 2))
# How long a password check waits for a free slot before that 503. A waiting login holds its web
# worker, so with as many workers as cores (2 on 2) the default is 0, refused at once: measured,
# a 250 ms wait let a 16-attacker flood raise page views' p99 to 0.9 s. With spare workers (gunicorn's
# 2 × cores + 1) a few hashes' wait (~30 ms each, e.g. 100) lets logins that merely coincide both in.
LOGIN_HASH_WAIT_MS = env.int("LOGIN_HASH_WAIT_MS", default=0)
# Password reset requests: per client address (a 429 page), per address typed (silently no mail).
RATELIMIT_PASSWORD_RESET_PER_ADDRESS = env.str("RATELIMIT_PASSWORD_RESET_PER_ADDRESS", default="5/h")
RATELIMIT_PASSWORD_RESET_PER_EMAIL = env.str("RATELIMIT_PASSWORD_RESET_PER_EMAIL", default="3/h")
RATELIMIT_VIEW = "shop.views.rate_limited"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    # Django's, with a message its zh_Hans catalogue lacks (shop/accounts/validators.py).
    {"NAME": "shop.accounts.validators.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane): about 30 ms of CPU per hash on the
# benchmark machine, where Django's default PBKDF2 (1,000,000 iterations) cost 1–3 s (shop/core/hashers.py,
# docs/benchmark.md "Login"). PBKDF2 stays listed to verify older hashes; each is rehashed with
# Argon2id at its owner's next login.
PASSWORD_HASHERS = [
    "shop.core.hashers.ShopArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]

# Caches: "default" for sessions, rate limits and the like; "pages" for whole anonymous pages,
# the fragments they are built from (invalidated by tag, shop.core.pagecache) and the view
# counters, so a cached hit counts its view in the same round trip. Its own database number.
CACHES = {
    "default": env.cache("CACHE_URL", default="locmemcache://default"),
    "pages": env.cache("PAGE_CACHE_URL", default=env.str("CACHE_URL", default="locmemcache://pages")),
}
if CACHES["pages"]["BACKEND"].endswith(".redis.RedisCache") and "PAGE_CACHE_URL" not in env:
    # Same Redis server, its own database number, so clearing pages clears nothing else.
    parts = urlsplit(CACHES["pages"]["LOCATION"])
    db = parts.path.strip("/")
    CACHES["pages"]["LOCATION"] = urlunsplit(parts._replace(path=f"/{int(db) + 1 if db.isdigit() else 1}"))
for _cache in CACHES.values():
    if _cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
        _cache["BACKEND"] = "shop.core.cache.ResilientRedisCache"
        _cache.setdefault("OPTIONS", {}).update({"socket_connect_timeout": 0.5, "socket_timeout": 1})
RATELIMIT_FAIL_OPEN = True  # a cache outage must not lock everyone out of checkout
PAGE_CACHE_SECONDS = env.int("PAGE_CACHE_SECONDS", default=60)
PAGE_CACHE_ENABLED = env.bool("PAGE_CACHE_ENABLED", default=True)

SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
# Django serves media in DEBUG; outside it only when asked (SERVE_MEDIA=1: make stack, the
# benchmark, the browser tests). Production puts media behind the web server or on object storage.
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# Media on object storage (shop.core.storage.MediaStorage, django-storages): with a bucket named,
# uploads, renditions and the demo's photos go to S3 or an S3-compatible server (AWS_S3_ENDPOINT_URL:
# MinIO, OSS, COS; moto's server in the tests and `make cluster`, bin/s3-local). Public media
# is linked at MEDIA_URL: the CDN or custom domain, else the bucket's own address; private media
# through signed URLs valid AWS_QUERYSTRING_EXPIRE seconds. Static files stay with whitenoise.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="").rstrip("/") or None
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="us-east-1")
    AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="")
    AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="")
    if not DEBUG and not (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY):
        raise ImproperlyConfigured(
            "AWS_STORAGE_BUCKET_NAME is set: with DEBUG off media storage needs AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (the bucket's own keys; there is no default)."
        )
    AWS_S3_SIGNATURE_VERSION = "s3v4"
    AWS_QUERYSTRING_EXPIRE = env.int("AWS_QUERYSTRING_EXPIRE", default=600)
    # Lower case on purpose: as AWS_S3_CUSTOM_DOMAIN the storage would stop signing private URLs.
    _media_domain = env.str("AWS_S3_CUSTOM_DOMAIN", default="").strip("/")
    if _media_domain:
        _media_base = f"https://{_media_domain}"
    elif AWS_S3_ENDPOINT_URL:
        _media_base = f"{AWS_S3_ENDPOINT_URL}/{AWS_STORAGE_BUCKET_NAME}"  # path-style, as the endpoint serves it
    else:
        _media_base = f"https://{AWS_STORAGE_BUCKET_NAME}.s3.{AWS_S3_REGION_NAME}.amazonaws.com"
    MEDIA_URL = env.str("MEDIA_URL", default=_media_base).rstrip("/") + "/"
    STORAGES["default"] = {"BACKEND": "shop.core.storage.MediaStorage"}
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024

# Mail
EMAIL_CONFIG = env.email("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="shop@example.com")

# Celery: without a broker the tasks run eagerly in-process (the embedded default).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=env.str("REDIS_URL", default=""))
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Fail fast when the broker is down: the outbox keeps the work and the sweeper re-queues it.
CELERY_TASK_PUBLISH_RETRY = False
# kombu also retries the connection itself before a publish (2 s, then 4 s, until
# broker_connection_timeout): about 6 s per task while Redis is down. One attempt with a short
# connect timeout instead. The worker's own reconnecting is governed by
# broker_connection_max_retries, not by these options, so it still waits for the broker.
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 5, "max_retries": 0}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "catalog-flush-view-counts": {
        "task": "catalog.tasks.flush_view_counts",
        "schedule": timedelta(seconds=30),
    },
    "orders-cancel-expired": {"task": "orders.tasks.cancel_expired_orders", "schedule": timedelta(minutes=1)},
    "orders-sweep-outbox": {"task": "orders.tasks.notification_sweep", "schedule": timedelta(seconds=30)},
    "catalog-refresh-stock-flags": {
        "task": "fulfillment.tasks.refresh_stock_flags",
        "schedule": timedelta(minutes=5),
    },
    # Back-in-stock mails whose task was lost (broker outage) or whose variant was sold again.
    "fulfillment-stock-alerts-sweep": {
        "task": "fulfillment.tasks.stock_alerts_sweep",
        "schedule": timedelta(minutes=10),
    },
    "fulfillment-poll-carriers": {
        "task": "fulfillment.tasks.poll_shipments",
        "schedule": timedelta(seconds=env.int("CARRIER_POLL_SECONDS", default=300)),
    },
    "orders-auto-confirm": {"task": "orders.tasks.auto_confirm_orders", "schedule": timedelta(minutes=30)},
    "fulfillment-low-stock-digest": {
        "task": "fulfillment.tasks.low_stock_digest",
        "schedule": crontab(hour=8, minute=0),
    },
    "payments-sweep-refunds": {"task": "payments.tasks.refunds_sweep", "schedule": timedelta(minutes=10)},
    # A cancelled order's trade close lost to a broker outage: closed while it could still be paid.
    "payments-sweep-trade-closes": {"task": "payments.tasks.payment_trades_sweep", "schedule": timedelta(minutes=1)},
    "aftersales-deadlines": {"task": "aftersales.tasks.enforce_deadlines", "schedule": timedelta(minutes=10)},
    "aftersales-default-reviews": {"task": "aftersales.tasks.default_reviews", "schedule": timedelta(hours=1)},
    # "Bought together" and "for you", computed away from the pages, which only read the lists.
    "orders-recommendations": {
        "task": "orders.tasks.recommendations_refresh",
        "schedule": timedelta(minutes=env.int("RECOMMENDATIONS_REFRESH_MINUTES", default=60)),
    },
    # The products' 已售 from the sales rollup (orders.sales_count): a sale shows this late.
    "orders-sales-count": {
        "task": "orders.tasks.sales_count_refresh",
        "schedule": timedelta(minutes=env.int("SALES_COUNT_REFRESH_MINUTES", default=10)),
    },
    # 每月15号: the previous month, reconciled and settled to each department (cron may run
    # `manage.py settle_month` instead; a second run of a month changes nothing).
    "aftersales-settle-month": {
        "task": "aftersales.tasks.settle_previous_month",
        "schedule": crontab(day_of_month=15, hour=2, minute=0),
    },
}

# Where the shop is reachable from outside: links in mail, gateway notify and return URLs.
# Unset, the local server's own port (bin/run and bin/stack serve on PORT).
SITE_URL = env.str("SITE_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}").rstrip("/")
# The benchmark's ceiling view (/bench/ceiling/): routed only in DEBUG or when asked for (bin/bench).
BENCH_VIEWS_ENABLED = env.bool("BENCH_VIEWS_ENABLED", default=DEBUG)

# Orders and checkout
ORDER_PAYMENT_MINUTES = env.int("ORDER_PAYMENT_MINUTES", default=30)  # unpaid orders cancelled after
# An unpaid order holds its stock until it is paid or times out: caps per customer, so that one
# customer cannot sit on what others want to buy.
ORDER_MAX_UNPAID_PER_CUSTOMER = env.int("ORDER_MAX_UNPAID_PER_CUSTOMER", default=5)
ORDER_MAX_UNPAID_UNITS_PER_CUSTOMER = env.int("ORDER_MAX_UNPAID_UNITS_PER_CUSTOMER", default=200)
ORDER_MAX_UNPAID_UNITS_PER_VARIANT = env.int("ORDER_MAX_UNPAID_UNITS_PER_VARIANT", default=99)
# Cash on delivery is credit: a customer with this many orders whose cash is still to collect
# (refused parcels come back at our cost) pays online until one is delivered.
ORDER_MAX_COD_PER_CUSTOMER = env.int("ORDER_MAX_COD_PER_CUSTOMER", default=3)
CART_MAX_LINE_QUANTITY = 99
SHIPPING_METHODS = {
    # fee = base + per started kg above the first; free over a goods value (None: never free)
    "standard": {"base": "8.00", "per_kg": "2.00", "free_over": "99.00", "days": "3-5"},
    "express": {"base": "18.00", "per_kg": "6.00", "free_over": None, "days": "1-2"},
}
SHIPPING_REMOTE_PROVINCES = ["新疆", "西藏", "青海", "内蒙古", "宁夏", "甘肃"]
SHIPPING_REMOTE_SURCHARGE = "10.00"
SHIPPING_INSURANCE_RATE = env.str("SHIPPING_INSURANCE_RATE", default="0.005")  # 5‰ of the goods value
SHIPPING_INSURANCE_MIN = "1.00"
NOTIFICATION_MAX_ATTEMPTS = 8
# How long a worker holds an outbox row it is sending (rendering, attachments, SMTP): longer than
# any send takes, short enough that a killed worker's row is taken over (by the sweeper) soon.
NOTIFICATION_LEASE_SECONDS = env.int("NOTIFICATION_LEASE_SECONDS", default=60)
# Receipt is confirmed automatically this many days after delivery, or after shipping when the
# carrier never reports delivery.
ORDER_AUTO_CONFIRM_DAYS_AFTER_DELIVERY = env.int("ORDER_AUTO_CONFIRM_DAYS_AFTER_DELIVERY", default=7)
ORDER_AUTO_CONFIRM_DAYS_AFTER_SHIPPING = env.int("ORDER_AUTO_CONFIRM_DAYS_AFTER_SHIPPING", default=15)

# After-sales deadlines (../shared/AFTERSALES.md: Taobao's and WeChat Shop's published rules). Each
# is enforced by the beat job: what nobody did in time is done for the customer.
AFTERSALES_CANCEL_RESPOND_HOURS = env.int("AFTERSALES_CANCEL_RESPOND_HOURS", default=24)  # packed, not shipped
AFTERSALES_RESPOND_HOURS = env.int("AFTERSALES_RESPOND_HOURS", default=48)  # shop silent → approved
AFTERSALES_APPEAL_DAYS = env.int("AFTERSALES_APPEAL_DAYS", default=5)  # a rejection may be appealed once
AFTERSALES_RETURN_SHIP_DAYS = env.int("AFTERSALES_RETURN_SHIP_DAYS", default=7)  # customer silent → closed
AFTERSALES_RETURN_RECEIVE_DAYS = env.int("AFTERSALES_RETURN_RECEIVE_DAYS", default=10)  # shop silent → refunded
AFTERSALES_NO_REASON_DAYS = env.int("AFTERSALES_NO_REASON_DAYS", default=7)  # CRPL art. 25, from delivery
AFTERSALES_QUALITY_DAYS = env.int("AFTERSALES_QUALITY_DAYS", default=15)  # quality problems, from delivery
AFTERSALES_MAX_REQUESTS_PER_LINE = env.int("AFTERSALES_MAX_REQUESTS_PER_LINE", default=5)
AFTERSALES_MAX_PHOTOS = 6
# Customer service's mailbox: a customer's message on a request is mailed there (and shows in
# the admin's queue). Unset: DEFAULT_FROM_EMAIL, the shop's own address.
AFTERSALES_STAFF_EMAIL = env.str("AFTERSALES_STAFF_EMAIL", default=DEFAULT_FROM_EMAIL)
AFTERSALES_PHOTO_MAX_BYTES = 8 * 1024 * 1024
AFTERSALES_PHOTO_MAX_SIDE = 2000  # photos are re-encoded, no larger than this, without their metadata

# The monthly settlement with the departments (manage.py settle_month; beat on the 15th at 02:00).
# An order line is settled once its order has been completed this many days (the after-sales
# period): most refunds then come before the money goes out rather than as clawbacks after.
SETTLEMENT_AFTER_DAYS = env.int("SETTLEMENT_AFTER_DAYS", default=7)

# Invoices (发票, aftersales.services.invoices). Requested invoices are issued as their order
# completes unless INVOICE_AUTO_ISSUE is off (finance then issues them in the admin). The seller
# printed on every invoice: the shop's legal name and unified social credit code.
INVOICE_AUTO_ISSUE = env.bool("INVOICE_AUTO_ISSUE", default=True)
INVOICE_SELLER_NAME = env.str("INVOICE_SELLER_NAME", default="示例商城有限公司")
INVOICE_SELLER_TAXPAYER_ID = env.str("INVOICE_SELLER_TAXPAYER_ID", default="")
REVIEW_DAYS = env.int("REVIEW_DAYS", default=15)  # then a default positive review
REVIEW_FOLLOWUP_DAYS = env.int("REVIEW_FOLLOWUP_DAYS", default=180)
REVIEW_DEFAULT_RATING = 5

# Fulfillment: carriers and tracking. The express carrier is an HTTP API; `make run`, `make stack`
# and the tests start fulfillment.carrier_sandbox, a stand-in implementing it. Outside DEBUG
# nothing points at that stand-in by default: without CARRIER_EXPRESS_URL the express carrier is
# simply not offered, and a configured one needs a real key (the sandbox's public default key
# would let anyone who can reach its URL report deliveries, cash on delivery collected included).
_CARRIER_SANDBOX_KEY = "sandbox-key"  # the stand-in's public default, refused below
CARRIER_EXPRESS_URL = env.str("CARRIER_EXPRESS_URL", default="http://127.0.0.1:8001" if DEBUG else "").rstrip("/")
CARRIER_EXPRESS_KEY = env.str("CARRIER_EXPRESS_KEY", default=_CARRIER_SANDBOX_KEY if DEBUG else "")
if not DEBUG and CARRIER_EXPRESS_URL and (CARRIER_EXPRESS_KEY == _CARRIER_SANDBOX_KEY or len(CARRIER_EXPRESS_KEY) < 16):
    raise ImproperlyConfigured(
        "With DEBUG off the express carrier (CARRIER_EXPRESS_URL) needs a real CARRIER_EXPRESS_KEY "
        "(at least 16 characters, not the sandbox's default); unset CARRIER_EXPRESS_URL to ship without it."
    )
CARRIER_EXPRESS_TIMEOUT = env.float("CARRIER_EXPRESS_TIMEOUT", default=5.0)
CARRIER_POLL_SECONDS = env.int("CARRIER_POLL_SECONDS", default=300)  # how often a parcel in transit is polled
CARRIER_POLL_BACKOFF_MAX_SECONDS = 6 * 3600  # a failing carrier is polled less and less, at most this apart

# Payments. The sandbox gateway is a stand-in served by the app (its hosted page marks orders
# paid with no money): on in DEBUG, off and unrouted otherwise unless SANDBOX_GATEWAY_ENABLED,
# and then only with a real shared secret. Alipay needs real keys.
SANDBOX_GATEWAY_ENABLED = env.bool("SANDBOX_GATEWAY_ENABLED", default=DEBUG)
_SANDBOX_DEFAULT_SECRET = "sandbox-shared-secret"  # noqa: S105 - public; refused below outside DEBUG
PAYMENT_PROVIDERS = env.list(
    "PAYMENT_PROVIDERS", default=["sandbox", "wallet", "cod"] if SANDBOX_GATEWAY_ENABLED else ["wallet", "cod"]
)
SANDBOX_GATEWAY = {
    "MERCHANT_ID": env.str("SANDBOX_MERCHANT_ID", default="sandbox-merchant"),
    "SECRET": env.str("SANDBOX_SECRET", default=_SANDBOX_DEFAULT_SECRET if DEBUG else ""),
}
if "sandbox" in PAYMENT_PROVIDERS and not SANDBOX_GATEWAY_ENABLED:
    raise ImproperlyConfigured(
        "PAYMENT_PROVIDERS lists the sandbox gateway, which is a test stand-in: set SANDBOX_GATEWAY_ENABLED=1 "
        "to use it on purpose, or remove it from PAYMENT_PROVIDERS."
    )
if (
    SANDBOX_GATEWAY_ENABLED
    and not DEBUG
    and (SANDBOX_GATEWAY["SECRET"] == _SANDBOX_DEFAULT_SECRET or len(SANDBOX_GATEWAY["SECRET"]) < 32)
):
    raise ImproperlyConfigured(
        "With DEBUG off the sandbox gateway (SANDBOX_GATEWAY_ENABLED) needs a real SANDBOX_SECRET "
        "(at least 32 random characters, not the public default)."
    )
ALIPAY = {
    "APP_ID": env.str("ALIPAY_APP_ID", default=""),
    "PRIVATE_KEY": env.str("ALIPAY_PRIVATE_KEY", default="", multiline=True),
    "ALIPAY_PUBLIC_KEY": env.str("ALIPAY_PUBLIC_KEY", default="", multiline=True),
    "GATEWAY_URL": env.str("ALIPAY_GATEWAY_URL", default="https://openapi.alipay.com/gateway.do"),
    # Our seller account's PID (2088…): Alipay signs other merchants' trades too, so a
    # notification counts only for this seller_id.
    "SELLER_ID": env.str("ALIPAY_SELLER_ID", default=""),
}
if "alipay" in PAYMENT_PROVIDERS and not all(
    ALIPAY[k] for k in ("APP_ID", "PRIVATE_KEY", "ALIPAY_PUBLIC_KEY", "SELLER_ID")
):
    raise ImproperlyConfigured(
        "PAYMENT_PROVIDERS lists alipay: set ALIPAY_APP_ID, ALIPAY_PRIVATE_KEY, ALIPAY_PUBLIC_KEY and ALIPAY_SELLER_ID."
    )

# Catalogue
SHOP_CURRENCY = env.str("SHOP_CURRENCY", default="CNY")
CATALOG_PAGE_SIZE = env.int("CATALOG_PAGE_SIZE", default=24)
SEARCH_RANK_MAX_HITS = env.int("SEARCH_RANK_MAX_HITS", default=2000)  # more hits: popularity order
CATALOG_COUNT_CAP = env.int("CATALOG_COUNT_CAP", default=10_000)  # listings count at most this many
# Facets over a filtered listing or a search are counted exactly up to this many products, and
# above it estimated from a sample of about CATALOG_FACETS_SAMPLE_ROWS of them (catalog.selectors.facets_for).
CATALOG_FACETS_EXACT_MAX = env.int("CATALOG_FACETS_EXACT_MAX", default=3000)
# 750: a broad search's sample costs PostgreSQL about a third of 1,500's (a search reads its stratum's
# rows from the heap, one page each), at about 1.4-1.6 times the error (docs/benchmark.md).
CATALOG_FACETS_SAMPLE_ROWS = env.int("CATALOG_FACETS_SAMPLE_ROWS", default=750)
CATALOG_LOW_STOCK_DEFAULT = 5
CATALOG_IMAGE_MAX_BYTES = 10 * 1024 * 1024
CATALOG_IMAGE_MAX_PIXELS = 40_000_000
CATALOG_IMAGE_MIN_SIDE = 100
# Views are counted in the cache and flushed to the database in batches.
CATALOG_VIEW_FLUSH_EVERY = env.int("CATALOG_VIEW_FLUSH_EVERY", default=50)
# "Bought together" counts the paid orders of this many days (orders.recommendations).
RECOMMENDATIONS_WINDOW_DAYS = env.int("RECOMMENDATIONS_WINDOW_DAYS", default=180)

THUMBNAIL_ALIASES = {
    "catalog.ProductImage.image": {
        "thumbnail": {"size": (160, 160), "crop": "smart"},
        "listing": {"size": (400, 400), "crop": "smart"},
        "zoom": {"size": (1200, 1200), "crop": False, "upscale": False},
    },
}
THUMBNAIL_PRESERVE_EXTENSIONS = ("png",)
THUMBNAIL_QUALITY = 82

IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
# Unset, the library lets every staff account import and export every model: importing needs
# the change permission of the admin's model, exporting its view permission (each file and row is
# further held to its own model's permissions: shop.core.admin.PermittedImportExportAdmin and
# catalog.resources.AllOrNothingResource).
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
# Left off on purpose: the library's formula escaping strips one leading "=" only and turns every
# cell into a string; exported cells are escaped by catalog.resources.AllOrNothingResource instead.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    "loggers": {"jieba": {"level": "ERROR"}},
}

# -- Security. Outside DEBUG everything is on (`check --deploy` is clean); each can be turned off
# from the environment, as bin/test and bin/stack do for their plain-http servers on loopback.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# A load balancer's health check may come over plain http (SecurityMiddleware drops the leading /).
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# One year: what the preload list asks for and what a shop taking money wants (never plain http).
# For a first rollout on a new domain start lower (SECURE_HSTS_SECONDS=3600) and raise it once
# https works everywhere: browsers remember the header for that long.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
# Preloading is a commitment for the whole registered domain that is slow to undo: the owner of
# the domain opts in. Left off, check --deploy's reminder (security.W021) is silenced below.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
# Not trusted by default: the Procfile binds gunicorn to 127.0.0.1, and gunicorn already takes
# X-Forwarded-Proto from a proxy on this machine only (its forwarded_allow_ips). Set this (e.g.
# "HTTP_X_FORWARDED_PROTO,https") only when a proxy elsewhere always sets the header, overwriting
# the client's: trusted without one, any client could claim https.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured('SECURE_PROXY_SSL_HEADER is "HEADER,value", e.g. "HTTP_X_FORWARDED_PROTO,https".')
SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header) or None
SECURE_REFERRER_POLICY = env.str("SECURE_REFERRER_POLICY", default="same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = env.str("SECURE_CROSS_ORIGIN_OPENER_POLICY", default="same-origin")
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


# Content-Security-Policy (django-csp), in DEBUG too: no inline script, style or event handler
# anywhere, so an injected <script> or style="" does nothing. Forms post to the shop itself; a
# browser also holds the redirect after a form post to form-action, so the payment gateway's
# origin (Alipay page pay: POST /pay/ redirects there) and SITE_URL's are listed too.
_FORM_ACTION = ["'self'", _origin(SITE_URL)]
if "alipay" in PAYMENT_PROVIDERS:
    _FORM_ACTION.append(_origin(ALIPAY["GATEWAY_URL"]))
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": list(filter(None, ["'self'", "data:", _origin(MEDIA_URL)])),  # media on object storage
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": list(dict.fromkeys(filter(None, _FORM_ACTION))),
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    },
}
