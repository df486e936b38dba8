"""Settings of the test project: queue-max as an installed app and as the tasks backend.

Each test points QUEUE_MAX['DATA_DIR'] at its own tmp_path with override_settings.
"""

import tempfile
from pathlib import Path

try:  # Django 6 has the tasks framework built in; Django 5.2 uses the django-tasks backport
    import django.tasks  # noqa: F401

    TASKS_APP = []
except ImportError:
    TASKS_APP = ["django_tasks"]

SECRET_KEY = "queue-max-tests"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "django_project.urls"
MIDDLEWARE: list[str] = []
INSTALLED_APPS = [*TASKS_APP, "queue_max.contrib.django", "django_project.shop"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

QUEUE_MAX = {
    "DATA_DIR": Path(tempfile.gettempdir()) / "queue-max-django-tests",
    "SHARDS": 1,
    "RATE_LIMIT": 0,
}

_BACKEND = "queue_max.contrib.django.backend.QueueMaxBackend"
TASKS = {
    "default": {"BACKEND": _BACKEND, "OPTIONS": {"MAX_RETRIES": 0}},
    "on_commit": {"BACKEND": _BACKEND, "OPTIONS": {"ENQUEUE_ON_COMMIT": True, "MAX_RETRIES": 0}},
    "retrying": {"BACKEND": _BACKEND, "OPTIONS": {"MAX_RETRIES": 2}},
    "named": {"BACKEND": _BACKEND, "QUEUES": ["default", "emails"], "OPTIONS": {"MAX_RETRIES": 0}},
}
