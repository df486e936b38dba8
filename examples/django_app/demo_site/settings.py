"""Settings of the queue-max Django example: the app, QUEUE_MAX, and the tasks backend."""

import os
from pathlib import Path

try:  # Django 6 ships the tasks framework; on Django 5.2 the django-tasks backport provides it
    import django.tasks  # noqa: F401

    TASKS_APP = []
except ImportError:
    TASKS_APP = ["django_tasks"]

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "queue-max-example-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
ROOT_URLCONF = "demo_site.urls"
MIDDLEWARE: list[str] = []
INSTALLED_APPS = [*TASKS_APP, "queue_max.contrib.django", "newsletter"]
# the example has no models; a real project keeps its usual database here
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# queue-max: the queue's shard files, and its settings (see docs/django.md for every key)
QUEUE_MAX = {
    "DATA_DIR": os.environ.get("DEMO_QUEUE_DIR", BASE_DIR / "queue-data"),
    "SHARDS": 2,
    "RATE_LIMIT": 600,
    "MAX_RETRIES": 2,
}

# Django's tasks framework, stored in the same queue
TASKS = {
    "default": {
        "BACKEND": "queue_max.contrib.django.backend.QueueMaxBackend",
        "OPTIONS": {"ENQUEUE_ON_COMMIT": True},
    },
}
