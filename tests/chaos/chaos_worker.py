"""A chaos-test worker process: one `Worker` over a queue that records every acknowledgement.

    python chaos_worker.py CONFIG_JSON

CONFIG: data_dir, log_dir, slot, queue (Queue keyword arguments), concurrency, prefetch,
poll_interval, shutdown_timeout, and `sabotage` ("no-fencing") only for the checker's own test.
Records go to <log_dir>/worker-<pid>.jsonl (see chaos_log):

- start / end: a handler run (uid, job id, lease token `tok`, attempt `att`);
- poison: the run is about to kill its own process (`how`: exit or sigkill);
- ack: a completion as the storage judged it (`ok` false: the lease was stale, fencing refused it);
- fail: a failure report as the storage judged it (`ok` false: LeaseLost);
- ack_error / fail_error: the storage call raised (e.g. StorageBusy); the worker retries or the
  lease runs out.

Payload fields: uid, kind (normal, slow, flaky, poison), sleep (seconds), how (poison only).
A flaky job raises on its first attempt. SIGTERM stops the worker gracefully: exit 0 when every
running job finished, 4 when some had to be released.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "src"), str(HERE)]

from chaos_log import RecordLog  # noqa: E402

from queue_max import Queue, Settings  # noqa: E402
from queue_max.errors import LeaseLost, QueueMaxError  # noqa: E402
from queue_max.models import Job, JobStatus  # noqa: E402
from queue_max.workers import Worker, current_job  # noqa: E402

POISON_EXIT = 86  # the exit status of a process killed by a poison job's os._exit


class RecordingQueue(Queue):
    """A Queue that records the outcome of each acknowledgement as the storage reported it.

    The Worker acknowledges through `complete_jobs` and `fail_job`; recording here, after the
    storage call returns, is the only place that sees both accepted and refused (stale) acks."""

    record: RecordLog

    def complete_jobs(self, results: Sequence[tuple[Job, Any]]) -> list[int]:
        try:
            lost = set(super().complete_jobs(results))
        except QueueMaxError as exc:
            self.record.write("ack_error", uids=[job.payload["uid"] for job, _ in results],
                              error=type(exc).__name__)
            raise
        for job, _result in results:
            self.record.write("ack", uid=job.payload["uid"], job=job.id, tok=job.lease_token,
                              ok=job.id not in lost)
        return sorted(lost)

    def fail_job(self, job_id: Any, *args: Any, **kwargs: Any) -> JobStatus:
        job = job_id if isinstance(job_id, Job) else None
        fields = {} if job is None else {"uid": job.payload["uid"], "job": job.id, "tok": job.lease_token}
        try:
            status = super().fail_job(job_id, *args, **kwargs)
        except LeaseLost:
            self.record.write("fail", ok=False, **fields)
            raise
        except QueueMaxError as exc:
            self.record.write("fail_error", error=type(exc).__name__, **fields)
            raise
        self.record.write("fail", ok=True, status=status.value, **fields)
        return status


def make_handler(record: RecordLog) -> Any:
    def handle(payload: dict[str, Any]) -> dict[str, Any]:
        ctx = current_job()
        assert ctx is not None
        job = ctx.job
        run = {"uid": payload["uid"], "job": job.id, "tok": job.lease_token, "att": job.tentativas}
        record.write("start", sleep=payload.get("sleep", 0), **run)
        kind = payload.get("kind")
        if kind == "poison":
            record.write("poison", how=payload["how"], **run)
            if payload["how"] == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            os._exit(POISON_EXIT)
        time.sleep(payload.get("sleep", 0))
        if kind == "flaky" and job.tentativas == 1:
            record.write("end", raised=True, **run)
            raise RuntimeError(f"flaky job {payload['uid']} fails its first attempt")
        record.write("end", **run)
        return {"uid": payload["uid"], "pid": os.getpid(), "tok": job.lease_token}

    return handle


def disable_fencing() -> None:
    """Sabotage for the checker's own test: completions no longer check the lease token, the way
    queue-max 0.1.1 accepted a stale worker's `complete_job`. Never used in a real run."""
    from queue_max.storage.sqlite._sql import Q

    Q.complete = Q.complete.split(" WHERE ")[0] + " WHERE id = :id AND :token IS NOT NULL"
    returning = Q.complete_returning.split(" RETURNING ")[1]
    Q.complete_returning = Q.complete + " RETURNING " + returning  # the lone ack's form


def main(config: dict[str, Any]) -> int:
    if config.get("sabotage") == "no-fencing":
        disable_fencing()
    record = RecordLog(Path(config["log_dir"]) / f"worker-{os.getpid()}.jsonl")
    queue = RecordingQueue(data_dir=config["data_dir"], settings=Settings().with_(**config.get("storage", {})),
                           **config["queue"])
    queue.record = record
    worker_id = f"chaos-w{config['slot']}-{os.getpid()}"
    worker = Worker(
        worker_id, make_handler(record), queue,
        poll_interval=config.get("poll_interval", 0.05), concurrency=config.get("concurrency", 2),
        prefetch=config.get("prefetch", 4), shutdown_timeout=config.get("shutdown_timeout", 5.0),
    )
    worker.start(handle_signals=True)
    record.write("boot", worker=worker_id, slot=config["slot"])  # from here on, SIGTERM is graceful
    worker.wait()
    clean = worker.stop()  # already stopped by the signal: whether every running job finished
    record.write("exit", clean=clean, stats=worker.get_stats())
    queue.close()
    return 0 if clean else 4


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
