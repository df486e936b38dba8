"""Subprocess roles for tests/system/test_faults.py and the crash-point test of tests/system/test_chaos.py.

    python fault_procs.py ROLE CONFIG_JSON

Each role prints one JSON line on stdout as its result, except `crash-batch`, which dies.

- hammer: enqueue batches, claim and complete on one shard as fast as possible for `seconds`,
  with `busy_timeout`; reports every batch id that returned or raised, what each call raised,
  the leases whose completion raised, and the longest call that ended in StorageBusy.
- open: wait for the `go` file to exist (so several openers start together), then open the
  directory with `shards`; reports the shard count or the error.
- hold-open: with umask 000, open the queue and run one job through it, print the result, and
  keep the connection (and so the -wal and -shm files) open until stdin closes.
- crash-batch: arm a crash point, then `enqueue_batch` a multi-shard batch: the process SIGKILLs
  itself right after the `commits`-th shard transaction of the batch commits (0: just before the
  first commit), the way a power cut or an OOM kill would land there.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "src")]

from queue_max import Queue, Settings, StorageBusy  # noqa: E402
from queue_max.errors import QueueMaxError  # noqa: E402


def hammer(config: dict[str, Any]) -> dict[str, Any]:
    settings = Settings().with_(busy_timeout=config["busy_timeout"])
    queue = Queue(data_dir=config["data_dir"], settings=settings, rate_limit=0, lease_timeout=3600,
                  circuit_breaker_threshold=1_000_000)
    out: dict[str, Any] = {"returned": [], "refused": [], "errors": {}, "unexpected": [],
                           "completed": [], "unacked": [], "slowest_busy": 0.0}
    lock = threading.Lock()
    tag = config["tag"]

    def call(what: str, fn: Any, *args: Any) -> Any:
        began = time.monotonic()
        try:
            return fn(*args)
        except StorageBusy:
            with lock:
                out["errors"][what] = out["errors"].get(what, 0) + 1
                out["slowest_busy"] = max(out["slowest_busy"], time.monotonic() - began)
            raise
        except Exception as exc:  # anything but a typed StorageBusy is a finding
            with lock:
                out["unexpected"].append(f"{what}: {type(exc).__module__}.{type(exc).__name__}: {exc}")
            raise

    def run(thread: int) -> None:
        end = time.monotonic() + config["seconds"]
        n = 0
        while time.monotonic() < end:
            n += 1
            batch = f"{tag}-{thread}-{n}"
            items = [{"payload": {"batch": batch, "i": i}} for i in range(config["batch"])]
            try:
                call("enqueue_batch", queue.enqueue_batch, items)
                out["returned"].append(batch)
            except StorageBusy:
                out["refused"].append(batch)
            except Exception:  # noqa: BLE001, S110 - `call` recorded it as unexpected
                pass
            try:
                jobs = call("claim_jobs", queue.claim_jobs, f"{tag}-{thread}", config["claim"])
            except Exception:  # noqa: BLE001, S112 - busy (counted) or unexpected (recorded)
                continue
            try:
                lost = call("complete_jobs", queue.complete_jobs, [(job, None) for job in jobs])
                with lock:
                    out["completed"] += [job.id for job in jobs if job.id not in lost]
            except Exception:  # noqa: BLE001 - busy (counted) or unexpected (recorded)
                with lock:
                    out["unacked"] += [[job.id, job.lease_token] for job in jobs]

    threads = [threading.Thread(target=run, args=(k,)) for k in range(config.get("threads", 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.close()
    return out


def open_queue(config: dict[str, Any]) -> dict[str, Any]:
    go = Path(config["go"])
    while not go.exists():
        time.sleep(0.001)
    try:
        with Queue(data_dir=config["data_dir"], shards=config["shards"], settings=Settings(), rate_limit=0) as queue:
            return {"shards": queue.num_shards}
    except QueueMaxError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}


def hold_open(config: dict[str, Any]) -> dict[str, Any]:
    os.umask(0)  # whatever the library creates, it must make private itself
    queue = Queue(data_dir=config["data_dir"], shards=2, settings=Settings(), rate_limit=0)
    queue.enqueue({"n": 1})
    job = queue.pop_job("w")
    assert job is not None
    queue.complete_job(job, result={"ok": True})
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.read()  # hold the connections (and the -wal/-shm files) until the test is done
    queue.close()
    return {"closed": True}


def crash_batch(config: dict[str, Any]) -> None:
    from queue_max.storage.sqlite import shard as shard_module

    queue = Queue(data_dir=config["data_dir"], settings=Settings(), rate_limit=0)
    original = shard_module._Tx.__exit__
    commits = [0]
    target = config["commits"]

    def exit_then_maybe_die(self: Any, kind: Any, exc: Any, tb: Any) -> Any:
        if kind is None and target == 0:
            os.kill(os.getpid(), signal.SIGKILL)  # nothing of the batch committed yet
        result = original(self, kind, exc, tb)
        if kind is None:
            commits[0] += 1
            if commits[0] == target:
                os.kill(os.getpid(), signal.SIGKILL)  # `target` shards committed, the rest not
        return result

    shard_module._Tx.__exit__ = exit_then_maybe_die  # type: ignore[method-assign]
    items: list[dict[str, Any]] = [{"payload": {"batch": "crash", "i": i}} for i in range(config["size"])]
    if config["path"] == "options":
        for item in items:
            item["priority"] = 1
    queue.enqueue_batch(items)
    raise SystemExit("the crash point never fired")


ROLES = {"hammer": hammer, "open": open_queue, "hold-open": hold_open}

if __name__ == "__main__":
    role, raw = sys.argv[1], json.loads(sys.argv[2])
    if role == "crash-batch":
        crash_batch(raw)
    print(json.dumps(ROLES[role](raw)), flush=True)
