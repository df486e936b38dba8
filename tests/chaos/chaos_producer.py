"""A chaos-test producer process: enqueues uniquely identified jobs and records each call.

    python chaos_producer.py CONFIG_JSON

CONFIG: data_dir, log_dir, name, seed, role ("regular" or "victim"), rounds, poison (round
numbers that carry one poison job), queue (Queue keyword arguments). Records go to
<log_dir>/producer-<name>.jsonl: `begin` (batch id, the uids it holds, the delays of delayed
jobs) before each enqueue call, `ok` (the ids it returned) after it. A batch with `begin` but no `ok` was interrupted.

A regular producer runs `rounds` rounds, each one `enqueue_batch` call or a few single
`enqueue` calls: mostly quick jobs, some slow, some flaky, some delayed, some high priority,
and the poison jobs it was given. The victim enqueues batches of quick jobs back to back until
the driver kills it mid-way.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "src"), str(HERE)]

from chaos_log import RecordLog  # noqa: E402

from queue_max import Queue, Settings  # noqa: E402

POISON_RETRIES = 2  # a poison job runs (and kills its process) max_retries + 1 = 3 times
JOB_RETRIES = 20  # every other job: kills cost attempts, but never this many


def job_spec(rng: random.Random, uid: str, batch: str, poison_how: str | None) -> dict[str, Any]:
    """One job as an `enqueue_batch` item; bare `{"payload": ...}` for most, so the bulk path runs."""
    if poison_how is not None:
        return {"payload": {"uid": uid, "batch": batch, "kind": "poison", "how": poison_how},
                "max_retries": POISON_RETRIES}
    roll = rng.random()
    if roll < 0.06:
        payload = {"kind": "slow", "sleep": round(rng.uniform(0.3, 0.7), 3)}
    elif roll < 0.12:
        payload = {"kind": "flaky", "sleep": round(rng.uniform(0.0, 0.02), 3)}
    elif roll < 0.40:
        payload = {"kind": "normal", "sleep": round(rng.uniform(0.02, 0.08), 3)}
    else:
        payload = {"kind": "normal", "sleep": round(rng.uniform(0.0, 0.01), 3)}
    spec: dict[str, Any] = {"payload": {"uid": uid, "batch": batch, **payload}}
    if rng.random() < 0.2:
        spec["priority"] = 2
    if rng.random() < 0.15:
        spec["delay"] = round(rng.uniform(0.2, 2.5), 3)
    return spec


def delays(specs: list[dict[str, Any]]) -> dict[str, float]:
    return {s["payload"]["uid"]: s["delay"] for s in specs if "delay" in s}


def enqueue_batch(queue: Queue, record: RecordLog, batch: str, specs: list[dict[str, Any]]) -> None:
    record.write("begin", batch=batch, uids=[s["payload"]["uid"] for s in specs], delays=delays(specs),
                 call="enqueue_batch")
    result = queue.enqueue_batch(specs)
    record.write("ok", batch=batch, ids=result["ids"])


def enqueue_one(queue: Queue, record: RecordLog, spec: dict[str, Any]) -> None:
    uid = spec["payload"]["uid"]
    record.write("begin", batch=uid, uids=[uid], delays=delays([spec]), call="enqueue")
    options = {k: v for k, v in spec.items() if k != "payload"}
    result = queue.enqueue(spec["payload"], **options)
    record.write("ok", batch=uid, ids=[result["id"]])


def regular(queue: Queue, record: RecordLog, rng: random.Random, config: dict[str, Any]) -> None:
    name = config["name"]
    poison = {int(r): how for r, how in config.get("poison", {}).items()}
    for round_no in range(config["rounds"]):
        batch = f"{name}-{round_no}"
        size = rng.randint(1, 3) if rng.random() < 0.35 else rng.randint(5, 30)
        specs = [job_spec(rng, f"{batch}-{i}", batch, None) for i in range(size)]
        if rng.random() < 0.5:  # a slow job in about every other round, for the driver's SIGSTOP
            specs[0]["payload"].update(kind="slow", sleep=round(rng.uniform(0.4, 0.8), 3))
            specs[0].pop("delay", None)
        if round_no in poison:
            specs.append(job_spec(rng, f"{batch}-{size}", batch, poison[round_no]))
        if size <= 3 and round_no not in poison:
            for spec in specs:
                enqueue_one(queue, record, spec)
        else:
            enqueue_batch(queue, record, batch, specs)
        time.sleep(rng.uniform(0.25, 0.55))


def victim(queue: Queue, record: RecordLog, rng: random.Random, config: dict[str, Any]) -> None:
    name = config["name"]
    go = Path(config["log_dir"]) / "victim.go"
    round_no = 0
    while True:  # until the driver's SIGKILL
        batch = f"{name}-{round_no}"
        # large enough that a call lasts tens of milliseconds, so the driver catches one in flight
        specs: list[dict[str, Any]] = [
            {"payload": {"uid": f"{batch}-{i}", "batch": batch, "kind": "normal", "sleep": 0, "pad": "x" * 600}}
            for i in range(rng.randint(300, 600))
        ]
        if rng.random() < 0.3:
            for spec in specs:
                spec["priority"] = 1  # the general path instead of the bulk path
        enqueue_batch(queue, record, batch, specs)
        round_no += 1
        if not go.exists():
            time.sleep(0.1)
        # once the driver aims, batches run back to back: a `begin` is then almost always the last
        # record, so the kill lands inside an enqueue call even when a batch takes only a few ms


def main(config: dict[str, Any]) -> int:
    record = RecordLog(Path(config["log_dir"]) / f"producer-{config['name']}.jsonl")
    queue = Queue(data_dir=config["data_dir"], settings=Settings().with_(**config.get("storage", {})),
                  **config["queue"])
    rng = random.Random(config["seed"])
    record.write("boot", name=config["name"], role=config["role"])
    if config["role"] == "victim":
        victim(queue, record, rng, config)
    else:
        regular(queue, record, rng, config)
    record.write("done")
    queue.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
