"""queue-max for Flask: `QueueExtension`, `@queue.task` run in an app context, `flask queue ...`.

    from flask import Flask
    from queue_max.contrib.flask import QueueExtension

    queue = QueueExtension()

    def create_app() -> Flask:
        app = Flask(__name__)
        app.config["QUEUE_MAX_DATA_DIR"] = "/var/lib/myapp/queue"
        queue.init_app(app)
        return app

    @queue.task
    def send_welcome(user_id: int) -> None: ...

See docs/flask.md.
"""

from .extension import AppState, FlaskTask, NoAppContext, QueueExtension
from .worker import FlaskWorker

__all__ = ["AppState", "FlaskTask", "FlaskWorker", "NoAppContext", "QueueExtension"]
