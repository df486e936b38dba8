"""queue-max in a Django project, start to finish, in one process.

A view enqueues a queue-max task and a Django task; `manage.py queue_worker --burst` runs them
until the queue is empty; their results are read back by id; `queue_stats` shows the queue.
The queue lives in a temporary directory that is removed at the end.

    python examples/django_app/main.py

For the real thing, from this directory: `python manage.py queue_worker`.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
try:
    import queue_max  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(HERE.parents[1] / "src"))


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir:
        os.environ["DEMO_QUEUE_DIR"] = data_dir
        os.environ["DJANGO_SETTINGS_MODULE"] = "demo_site.settings"
        import django

        django.setup()
        from django.core.management import call_command
        from django.test import Client

        from queue_max.contrib.django import get_queue
        from queue_max.contrib.django.conf import reset_queue
        from queue_max.tasks import TaskHandle

        # 1. a request enqueues the work
        response = Client().post("/subscribe/", {"email": "ana@example.com", "topics": ["sqlite", "django"]},
                                 content_type="application/json")
        ids = response.json()
        print(f"POST /subscribe/ -> {response.status_code} {ids}")

        # 2. a worker runs everything that is ready, then exits (`manage.py queue_worker --burst`)
        call_command("queue_worker", "--burst", "--poll-interval", "0.1", stdout=sys.stdout, stderr=io.StringIO())

        # 3. the results, read back by id (from any process)
        from newsletter.tasks import build_digest

        digest = build_digest.get_result(ids["digest"])
        print(f"Django task {digest.task.name}: {digest.status} -> {digest.return_value}")
        welcome = TaskHandle(get_queue(), ids["welcome"]).get(timeout=5)
        print(f"queue-max task send_welcome: {welcome}")

        # 4. the queue, as `manage.py queue_stats` shows it
        call_command("queue_stats", stdout=sys.stdout)
        reset_queue()  # close the shard files before the directory goes
    print("django example finished OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
