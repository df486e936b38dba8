"""The chaos test: worker and producer processes killed, stopped and poisoned on one queue.

Each seed runs tests/chaos/chaos_driver.py's scenario (real subprocesses, ~10 s) and checks the
invariants of tests/chaos/chaos_check.py: nothing lost, nothing stuck, every duplicate run
explained by a kill, a stop or an expired lease, no stale completion accepted, poison jobs
dead-lettered after exactly their attempts, batches all-or-nothing, the WAL bounded.

CI runs the seeds in DEFAULT_SEEDS. More, locally (see docs/reliability.md):

    QUEUE_MAX_CHAOS_SEEDS=20 pytest tests/system/test_chaos.py           # seeds 1..20
    QUEUE_MAX_CHAOS_SEEDS=7,42 pytest tests/system/test_chaos.py         # exactly these
    QUEUE_MAX_CHAOS_SEEDS=random:10 pytest tests/system/test_chaos.py    # 10 fresh seeds, printed
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

CHAOS = Path(__file__).resolve().parents[1] / "chaos"
sys.path.insert(0, str(CHAOS))

from chaos_check import Evidence, check  # noqa: E402
from chaos_driver import ChaosConfig, run_chaos  # noqa: E402

from queue_max import Queue, Settings  # noqa: E402
from queue_max.models import DeadLetter, Job, JobStatus  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.one_python]

DEFAULT_SEEDS = [1, 2, 3]

# Violations of bugs that are reported and covered by a strict xfail elsewhere. A run whose only
# violations are of these kinds is an expected failure, not a red CI; remove the entry with the fix.
KNOWN_BUGS: dict[str, str] = {}


def chaos_seeds() -> list[int]:
    raw = os.environ.get("QUEUE_MAX_CHAOS_SEEDS", "").strip()
    if not raw:
        return DEFAULT_SEEDS
    if raw.startswith("random:"):
        return [random.SystemRandom().randrange(1, 10**6) for _ in range(int(raw.split(":", 1)[1]))]
    if "," in raw:
        return [int(part) for part in raw.split(",") if part.strip()]
    return list(range(1, int(raw) + 1))


@pytest.mark.parametrize("seed", chaos_seeds())
def test_killed_stopped_and_poisoned_processes_lose_no_job_and_accept_no_stale_completion(seed, tmp_path):
    # Given 3 worker processes, 2 producers and a victim producer on one 3-shard directory
    # When workers are SIGKILLed and restarted, one is SIGSTOPped past its lease, poison jobs kill
    # their processes, the victim producer is killed mid-batch, and the queue then drains
    run = run_chaos(ChaosConfig(seed=seed), tmp_path / f"seed-{seed}")
    print(run.report())
    # Then every invariant held...
    unknown = [v for v in run.verdict.violations if not any(v.startswith(bug) for bug in KNOWN_BUGS)]
    assert not unknown, run.report()
    if run.verdict.violations:
        pytest.xfail("; ".join(reason for bug, reason in KNOWN_BUGS.items()
                               if any(v.startswith(bug) for v in run.verdict.violations)))
    # ...and every fault was really exercised
    s = run.verdict.summary
    assert s["driver_kills"] >= 1 and s["poison_kills"] >= 1, run.report()
    # (a stop that lands while the worker holds a shard's write lock leaves its lease untaken, and
    # its late completion is rightly accepted: the checker proved it was the only one)
    late = s["stale_acks_refused_after_stop"] + s["late_acks_of_untaken_leases_after_stop"]
    assert s["stops"] == 1 and late >= 1, run.report()
    assert s["interrupted_batches"] >= 1, run.report()
    assert s["by_kind"].get("poison") == 3 and s["dead_letters"] == 3, run.report()


def test_the_same_chaos_on_postgresql_loses_no_job_and_accepts_no_stale_completion(tmp_path):
    from _pg import PG_URL, drop_schema, fresh_schema, require_pg

    require_pg()
    schema = fresh_schema()
    try:
        # Given the same processes and faults, on one PostgreSQL schema instead of SQLite shards
        run = run_chaos(ChaosConfig(seed=1, database_url=PG_URL, database_schema=schema), tmp_path / "pg-seed-1")
        print(run.report())
    finally:
        drop_schema(schema)
    # Then every invariant held, and the faults were exercised
    assert run.ok, run.report()
    s = run.verdict.summary
    assert s["driver_kills"] >= 1 and s["poison_kills"] >= 1, run.report()
    # (a stop that lands while the worker holds a shard's write lock leaves its lease untaken, and
    # its late completion is rightly accepted: the checker proved it was the only one)
    late = s["stale_acks_refused_after_stop"] + s["late_acks_of_untaken_leases_after_stop"]
    assert s["stops"] == 1 and late >= 1, run.report()
    assert s["by_kind"].get("poison") == 3 and s["dead_letters"] == 3, run.report()


def test_the_checker_catches_a_queue_whose_completions_ignore_the_fencing_token(tmp_path):
    # Given workers whose completions no longer check the lease token (queue-max 0.1.1's bug)
    reports = []
    for seed in (5, 6, 7):
        run = run_chaos(ChaosConfig(seed=seed, sabotage="no-fencing"), tmp_path / f"sabotaged-{seed}")
        reports.append(run.report())
        # Then the stopped worker's late completion is accepted, and the chaos test says so
        if any(v.startswith("STALE COMPLETION ACCEPTED") for v in run.verdict.violations):
            return
        # unless no lease of the stopped worker was taken over while it was stopped (the stop can
        # land while it holds a shard's write lock, which stalls that shard's recovery, see
        # chaos_check): then its late completions were right to be accepted, and the run proves
        # nothing either way; the next seed stops it elsewhere (CI on 3b2c58c met one such run)
        summary = run.verdict.summary
        if not (summary["late_acks_of_untaken_leases_after_stop"] and not summary["stale_acks_refused_after_stop"]):
            break
    raise AssertionError("\n\n".join(reports))


# ── the checker, on hand-made evidence ──
def job(uid: str, status: str = "completed", token: int = 1, result: dict | None = None, **fields) -> Job:
    kind = fields.pop("kind", "normal")
    attempts = fields.pop("attempts", 1)
    return Job(1024 * (1 + sum(map(ord, uid))), 0, {"uid": uid, "batch": uid.rsplit("-", 1)[0], "kind": kind},
               JobStatus(status), 0, attempts, fields.pop("max_attempts", 21), 0.0, 0.0, token,
               result=result if result is not None else {"uid": uid, "pid": 100, "tok": token})


def evidence(jobs, worker=(), producer=None, timeline=(), dead=(), expiries=None) -> Evidence:
    batches: dict[str, list[str]] = {}
    for j in jobs:
        batches.setdefault(j.payload["batch"], []).append(j.payload["uid"])
    if producer is None:
        producer = [r for b, uids in batches.items() for r in
                    ({"ev": "begin", "batch": b, "uids": uids}, {"ev": "ok", "batch": b})]
    return Evidence(list(worker), producer, list(timeline), list(jobs), list(dead), expiries or {}, 3,
                    wal_max=1000, wal_bound=2000, drained=True)


def run_records(uid: str, pid: int, tok: int, ok: bool | None = True, t: float = 1.0) -> list[dict]:
    records = [{"ev": "start", "uid": uid, "pid": pid, "tok": tok, "att": tok, "t": t},
               {"ev": "end", "uid": uid, "pid": pid, "tok": tok, "t": t + 0.1}]
    if ok is not None:
        records.append({"ev": "ack", "uid": uid, "pid": pid, "tok": tok, "ok": ok, "t": t + 0.2})
    return records


def test_a_clean_run_has_no_violations():
    assert check(evidence([job("b-0")], worker=run_records("b-0", 100, 1))).violations == []


def test_the_checker_flags_a_lost_job_and_half_a_batch():
    producer = [{"ev": "begin", "batch": "b", "uids": ["b-0", "b-1"]}, {"ev": "ok", "batch": "b"},
                {"ev": "begin", "batch": "c", "uids": ["c-0", "c-1"]}]  # c was interrupted
    verdict = check(evidence([job("b-0"), job("c-0")], producer=producer,
                             worker=run_records("b-0", 100, 1) + run_records("c-0", 100, 1)))
    assert any(v.startswith("LOST: batch b") for v in verdict.violations)
    assert any(v.startswith("HALF A BATCH: batch c") for v in verdict.violations)


def test_the_checker_flags_two_accepted_completions_and_a_stale_result():
    records = run_records("b-0", 100, 1) + run_records("b-0", 200, 2)
    verdict = check(evidence([job("b-0", token=2, result={"uid": "b-0", "pid": 100, "tok": 1})], worker=records))
    assert sum(v.startswith("STALE COMPLETION ACCEPTED") for v in verdict.violations) >= 2


def test_the_checker_flags_a_rerun_that_no_kill_stop_or_expiry_explains():
    records = run_records("b-0", 100, 1, ok=None) + run_records("b-0", 200, 2)
    verdict = check(evidence([job("b-0", token=2, result={"uid": "b-0", "pid": 200, "tok": 2})], worker=records))
    assert any(v.startswith("UNEXPLAINED DUPLICATE") for v in verdict.violations)
    # the same re-run is fine once the first process is known to have been killed
    killed = [{"ev": "kill", "pid": 100, "role": "worker", "t": 2.0}]
    assert check(evidence([job("b-0", token=2, result={"uid": "b-0", "pid": 200, "tok": 2})], worker=records,
                          timeline=killed)).violations == []


def test_a_stopped_workers_late_completion_is_flagged_only_when_its_lease_was_taken_over():
    # Given a worker frozen by SIGSTOP from t=1.05 to t=5.0 while running b-0 with token 1
    stop = [{"ev": "stop", "pid": 100, "uid": "b-0", "tok": 1, "sent": 1.05, "t": 1.05},
            {"ev": "cont", "pid": 100, "sent": 5.0, "t": 5.0}]
    late = [{"ev": "start", "uid": "b-0", "pid": 100, "tok": 1, "att": 1, "t": 1.0},
            {"ev": "end", "uid": "b-0", "pid": 100, "tok": 1, "t": 5.1},
            {"ev": "ack", "uid": "b-0", "pid": 100, "tok": 1, "ok": True, "t": 5.2}]
    # When nobody recovered its lease (it held the shard's write lock), accepting it is right
    untouched = check(evidence([job("b-0")], worker=late, timeline=stop))
    assert untouched.violations == []
    assert untouched.summary["late_acks_of_untaken_leases_after_stop"] == 1
    # But when the lease had expired and was recovered, the same accepted completion is stale
    expired = job("b-0")
    taken = check(evidence([expired], worker=late, timeline=stop, expiries={expired.id: [(1, "w-100")]}))
    assert any(v.startswith("STALE COMPLETION ACCEPTED: pid 100") for v in taken.violations)


def test_a_stopped_workers_untaken_lease_is_judged_by_its_own_attempt_not_the_earlier_ones():
    # Given a job whose first two attempts died with their killed workers (their leases expired
    # and were recovered), then a third worker frozen from t=3.05 to t=7.0 while running it
    killed = [{"ev": "kill", "pid": pid, "role": "worker", "t": t} for pid, t in ((101, 1.5), (102, 2.5))]
    stop = [{"ev": "stop", "pid": 100, "uid": "b-0", "tok": 3, "sent": 3.05, "t": 3.05},
            {"ev": "cont", "pid": 100, "sent": 7.0, "t": 7.0}]
    earlier = run_records("b-0", 101, 1, ok=None, t=1.0) + run_records("b-0", 102, 2, ok=None, t=2.0)
    late = [{"ev": "start", "uid": "b-0", "pid": 100, "tok": 3, "att": 3, "t": 3.0},
            {"ev": "end", "uid": "b-0", "pid": 100, "tok": 3, "t": 7.1},
            {"ev": "ack", "uid": "b-0", "pid": 100, "tok": 3, "ok": True, "t": 7.2}]
    done = job("b-0", token=3, attempts=3)
    recovered = {done.id: [(1, "w-101"), (2, "w-102")]}
    # When nobody took the third lease over, accepting its late completion is right
    untouched = check(evidence([done], worker=earlier + late, timeline=killed + stop,
                               expiries=recovered))
    assert untouched.violations == []
    assert untouched.summary["late_acks_of_untaken_leases_after_stop"] == 1
    # But an expiry of the third attempt itself makes the same completion stale
    taken = check(evidence([done], worker=earlier + late, timeline=killed + stop,
                           expiries={done.id: [*recovered[done.id], (3, "w-100")]}))
    assert any(v.startswith("STALE COMPLETION ACCEPTED: pid 100") for v in taken.violations)


def test_the_checker_flags_a_delayed_job_that_ran_before_it_was_due():
    producer = [{"ev": "begin", "batch": "b", "uids": ["b-0"], "delays": {"b-0": 5.0}}, {"ev": "ok", "batch": "b"}]
    verdict = check(evidence([job("b-0")], producer=producer, worker=run_records("b-0", 100, 1, t=1.0)))
    assert [v for v in verdict.violations if v.startswith("EARLY")] == ["EARLY: uid b-0 ran 4.000s before its 5.0s delay"]


def test_the_checker_wants_poison_dead_lettered_after_exactly_its_attempts():
    poison = job("p-0", status="failed", token=2, kind="poison", attempts=2, max_attempts=3)
    entry = DeadLetter(1, poison.id, 0, poison.payload, "x", "LeaseExpired", 0.0, 2)
    verdict = check(evidence([poison], dead=[entry], expiries={poison.id: [(1, "w-1"), (2, "w-2")]}))
    assert any(v.startswith("POISON") for v in verdict.violations)


def test_a_poison_job_held_unstarted_through_a_stop_may_expire_in_a_live_worker():
    # Given a poison job that killed two workers, then was held unstarted by a third, live worker
    # while another worker was SIGSTOPped (its frozen write lock kept the third's heartbeats out)
    poison = job("p-0", status="failed", token=3, kind="poison", attempts=3, max_attempts=3)
    entry = DeadLetter(1, poison.id, 0, poison.payload, "x", "LeaseExpired", 0.0, 3)
    timeline = [{"ev": "kill", "pid": 1, "role": "worker", "t": 0.5}, {"ev": "kill", "pid": 2, "role": "worker", "t": 0.8},
                {"ev": "stop", "pid": 9, "uid": "b-0", "tok": 1, "sent": 2.0, "t": 2.0},
                {"ev": "cont", "pid": 9, "sent": 5.0, "t": 5.0}]
    worker = (run_records("p-0", 1, 1, ok=None, t=0.1) + run_records("p-0", 2, 2, ok=None, t=0.6)
              + run_records("b-0", 9, 1, t=1.9) + run_records("x-0", 3, 1, t=1.0) + run_records("x-1", 3, 1, t=6.0))
    expiries = {poison.id: [(1, "w-1"), (2, "w-2"), (3, "w-3")]}
    verdict = check(evidence([poison, job("b-0"), job("x-0"), job("x-1")], worker=worker, timeline=timeline,
                             dead=[entry], expiries=expiries))
    assert not [v for v in verdict.violations if v.startswith("POISON")]
    # But had the live worker started it, its expiry there would be unexplained
    started = worker + [{"ev": "start", "uid": "p-0", "pid": 3, "tok": 3, "att": 3, "t": 3.0}]
    verdict = check(evidence([poison, job("b-0"), job("x-0"), job("x-1")], worker=started, timeline=timeline,
                             dead=[entry], expiries=expiries))
    assert any(v.startswith("POISON: uid p-0 attempt 3 expired in w-3") for v in verdict.violations)


# ── the crash point behind KNOWN_BUGS["HALF A BATCH"], deterministic ──
def crash_batch(tmp_path: Path, path: str, commits: int) -> int:
    data = tmp_path / "data"
    Queue(data_dir=data, shards=3, rate_limit=0, settings=Settings()).close()
    config = {"data_dir": str(data), "path": path, "commits": commits, "size": 30}
    proc = subprocess.run([sys.executable, str(CHAOS / "fault_procs.py"), "crash-batch", json.dumps(config)],
                          capture_output=True, timeout=60, check=False)
    assert proc.returncode == -9, proc.stderr.decode()
    with Queue(data_dir=data, rate_limit=0, settings=Settings()) as queue:
        return len(queue.list_jobs(None, limit=1000))


@pytest.mark.parametrize("path", ["bulk", "options"])
def test_a_producer_killed_before_its_batch_commits_leaves_nothing(tmp_path, path):
    assert crash_batch(tmp_path, path, commits=0) == 0


@pytest.mark.parametrize("path", ["bulk", "options"])
def test_a_producer_killed_between_shard_commits_leaves_no_half_batch(tmp_path, path):
    # Given a 30-job batch spread over 3 shards, whose process dies once the first shard committed
    stored = crash_batch(tmp_path, path, commits=1)
    # Then the batch is all or nothing
    assert stored in (0, 30), f"{stored} of 30 jobs of the interrupted batch were stored"
