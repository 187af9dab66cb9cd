"""
Settings of the example project, all from environment variables (the app
role writes them to the env file the processes start with):

DATABASE_URL, DATABASE_REPLICA_URLS (comma-separated), REPLICA_PIN_SECONDS,
CELERY_BROKER_URL, SECRET_KEY (required), ALLOWED_HOSTS (comma-separated),
STATIC_ROOT, MEDIA_ROOT, DEBUG (off unless "true").
"""

import json
import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_bool(name, default=False):
    return os.environ.get(name, str(default)).strip().lower() in ("1", "true", "yes", "on")


SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = env_bool("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost")

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "counter",
]
MIDDLEWARE = [
    "demo.routers.pin_to_primary",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

conn_options = {"conn_max_age": 60, "conn_health_checks": True}
DATABASES = {
    "default": dj_database_url.config(default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", **conn_options)
}
# Read-only hot standbys of the primary: demo.routers sends a request's reads
# there, except a client's for REPLICA_PIN_SECONDS after it wrote. Without
# them, everything goes to "default" (the router's middleware drops out).
for i, url in enumerate(env_list("DATABASE_REPLICA_URLS")):
    DATABASES[f"replica_{i}"] = {**dj_database_url.parse(url, **conn_options), "TEST": {"MIRROR": "default"}}
DATABASE_ROUTERS = ["demo.routers.PrimaryReplicaRouter"]
REPLICA_PIN_SECONDS = int(os.environ.get("REPLICA_PIN_SECONDS", "5"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

# Static files get hashed names (collectstatic writes the manifest), so the
# web server may cache them for long; nginx serves STATIC_ROOT at /static/.
STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT", str(BASE_DIR / "static"))
MEDIA_URL = "/media/"
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", str(BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

# Behind nginx: it sets X-Forwarded-Proto, gunicorn trusts it on its unix socket.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# A task is acknowledged after it ran, and given back to the queue when its
# worker dies mid-way (kill -9, OOM): a task is never lost, so it must be
# safe to run twice (ours is).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "amqp://guest@localhost//")
CELERY_BROKER_TRANSPORT_OPTIONS = json.loads(os.environ.get("CELERY_BROKER_TRANSPORT_OPTIONS") or "{}")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# Everything to stderr: supervisor sends it to syslog.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
