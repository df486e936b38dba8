"""FastAPI integration: run the queue and its workers with the app, inject the queue, and an
opt-in admin API.

    from fastapi import Depends, FastAPI
    from queue_max.contrib.fastapi import QueueDep, admin_router, queue_lifespan

    app = FastAPI(lifespan=queue_lifespan(workers=4))

    @app.post("/emails")
    def send(queue: QueueDep) -> dict[str, int]:
        return queue.enqueue({"to": "user@example.com"})

    app.include_router(admin_router(dependencies=[Depends(require_admin)]), prefix="/admin/queue")

`app.add_middleware(QueueMiddleware, max_workers=4)` (the queue-max 0.1.1 way) also works.
Needs `pip install queue-max[fastapi]`. See docs/fastapi.md.
"""

from ._runtime import QueueRuntime
from .admin import RequeueRequest, admin_router
from .lifespan import QueueDep, get_queue, queue_lifespan
from .middleware import QueueMiddleware

__all__ = [
    "QueueDep",
    "QueueMiddleware",
    "QueueRuntime",
    "RequeueRequest",
    "admin_router",
    "get_queue",
    "queue_lifespan",
]
