"""queue-max in a Flask app, start to finish, in one process.

An application factory sets up `QueueExtension`; a view enqueues a `@queue.task`; the
`flask queue worker --burst` command runs it inside the app context until the queue is empty;
the result is read back by id, and `flask queue stats` shows the queue. The queue lives in a
temporary directory that is removed at the end.

    python examples/flask_app.py

For the real thing: `flask --app examples.flask_app:create_app queue worker`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

try:
    import queue_max  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from flask import Flask, current_app, jsonify, request

from queue_max.contrib.flask import QueueExtension
from queue_max.tasks import TaskHandle

queue = QueueExtension()


@queue.task(max_retries=3)
def resize_avatar(user: str, size: int) -> dict[str, Any]:
    """Runs on the worker, inside the app context: the app's config is at hand."""
    return {"user": user, "size": size, "stored_in": current_app.config["AVATAR_BUCKET"]}


def create_app(data_dir: str | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        AVATAR_BUCKET="avatars-example",
        QUEUE_MAX_DATA_DIR=data_dir or os.environ.get("QUEUE_DIR", "queue-data"),
        QUEUE_MAX_SHARDS=2,
        QUEUE_MAX_RATE_LIMIT=600,
    )
    queue.init_app(app)

    @app.post("/avatars/<user>")
    def upload_avatar(user: str) -> Any:
        handle = resize_avatar.delay(user, int(request.args.get("size", 128)))
        return jsonify(job_id=handle.id), 202

    return app


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(data_dir)
        # 1. a request enqueues the work
        response = app.test_client().post("/avatars/ana?size=256")
        job_id = response.json["job_id"]
        print(f"POST /avatars/ana -> {response.status_code} job {job_id}")

        # 2. `flask queue worker --burst` runs what is ready, then exits
        cli = app.test_cli_runner()
        result = cli.invoke(args=["queue", "worker", "--burst", "--poll-interval", "0.1"])
        print(result.output.strip().splitlines()[-1])

        # 3. the result, read back by id
        with app.app_context():
            print(f"resize_avatar: {TaskHandle(queue.get_queue(), job_id).get(timeout=5)}")

        # 4. the queue, as `flask queue stats` shows it
        print(cli.invoke(args=["queue", "stats"]).output.rstrip())
        queue.close(app)
        if result.exit_code != 0:
            return result.exit_code
    print("flask example finished OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
