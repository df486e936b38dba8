"""queue-max for Django: an installed app with settings, management commands, system checks,
a `task` decorator, and a backend for Django's tasks framework (`backend.QueueMaxBackend`).

    INSTALLED_APPS = [..., "queue_max.contrib.django"]
    QUEUE_MAX = {"SHARDS": 4, "RATE_LIMIT": 160, "DATA_DIR": BASE_DIR / "queue"}

    from queue_max.contrib.django import task

    @task
    def send_welcome(user_id: int) -> None: ...

Importing this package does not import Django; see docs/django.md.
"""

from .conf import get_queue
from .task import DjangoTask, DjangoTaskCall, task

__all__ = ["DjangoTask", "DjangoTaskCall", "get_queue", "task"]
