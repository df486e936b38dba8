"""The chaos test's verdict: what the records of a run and the final queue state must satisfy.

`check(evidence)` returns the violations (empty when the run was correct) and a summary. It
trusts nothing the queue says about itself beyond its final state: each handler run, each
acknowledgement and each enqueue call was recorded by the process that made it (chaos_log),
and each kill, stop and restart by the driver.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Evidence", "Verdict", "check"]


@dataclass
class Evidence:
    """Everything a run left behind."""

    worker_records: list[dict[str, Any]]
    producer_records: list[dict[str, Any]]
    timeline: list[dict[str, Any]]  # the driver's events: spawn, kill, exit, stop, cont, ...
    jobs: list[Any]  # every Job in the queue at the end
    dead_letters: list[Any]  # every DeadLetter at the end
    expiries: dict[int, list[tuple[int, str | None]]]  # job id -> [(attempt, worker_id)] of LeaseExpired errors
    poison_attempts: int
    wal_max: int
    wal_bound: int
    drained: bool
    unreadable_lines: int = 0


@dataclass
class Verdict:
    violations: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    def fail(self, message: str) -> None:
        self.violations.append(message)


@dataclass
class _Run:
    uid: str
    pid: int
    tok: int
    att: int
    start: float
    end: float | None = None
    outcome: str | None = None  # accepted, rejected, failed, fail-rejected


def _pid_of(worker_id: str | None) -> int | None:
    try:
        return int(str(worker_id).rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return None


def _runs(records: list[dict[str, Any]]) -> dict[tuple[str, int], list[_Run]]:
    """Handler runs keyed by (uid, lease token), with their end and acknowledgement outcome."""
    runs: dict[tuple[str, int], list[_Run]] = defaultdict(list)
    by_pid: dict[tuple[str, int, int], _Run] = {}
    for r in sorted(records, key=lambda r: r["t"]):
        ev = r["ev"]
        if ev == "start":
            run = _Run(r["uid"], r["pid"], r["tok"], r["att"], r["t"])
            runs[(run.uid, run.tok)].append(run)
            by_pid[(run.uid, run.tok, run.pid)] = run
        elif ev in ("end", "ack", "fail") and "uid" in r:
            run = by_pid.get((r["uid"], r["tok"], r["pid"]))
            if run is None:
                continue
            if ev == "end":
                run.end = r["t"]
            elif ev == "ack":
                run.outcome = "accepted" if r["ok"] else "rejected"
            else:
                run.outcome = "failed" if r["ok"] else "fail-rejected"
    return runs


def check(e: Evidence) -> Verdict:
    v = Verdict()
    events = e.timeline
    killed = {ev["pid"] for ev in events if ev["ev"] == "kill"}
    poisoned = {r["pid"] for r in e.worker_records if r["ev"] == "poison"}
    dead = killed | poisoned
    stops = [ev for ev in events if ev["ev"] == "stop"]
    conts = {ev["pid"]: ev["sent"] for ev in events if ev["ev"] == "cont"}
    stop_windows = [_freeze(e.worker_records, ev["pid"], ev["sent"], conts.get(ev["pid"], float("inf")))
                    for ev in stops]

    # ── enqueue: nothing lost, nothing invented, batches all-or-nothing ──
    begun: dict[str, list[str]] = {}
    returned: set[str] = set()
    delayed: dict[str, float] = {}
    for r in e.producer_records:
        if r["ev"] == "begin":
            begun[r["batch"]] = r["uids"]
            delayed.update(r.get("delays", {}))
        elif r["ev"] == "ok":
            returned.add(r["batch"])
    by_uid: dict[str, Any] = {}
    for job in e.jobs:
        uid = job.payload.get("uid")
        if uid in by_uid:
            v.fail(f"uid {uid} was stored twice (jobs {by_uid[uid].id} and {job.id})")
        by_uid[uid] = job
    all_uids = {uid for uids in begun.values() for uid in uids}
    for uid in sorted(set(by_uid) - all_uids):
        v.fail(f"job {by_uid[uid].id} (uid {uid}) was never enqueued by any producer")
    interrupted = 0
    for batch, uids in begun.items():
        present = [uid for uid in uids if uid in by_uid]
        if batch in returned:
            if len(present) != len(uids):
                missing = sorted(set(uids) - set(present))
                v.fail(f"LOST: batch {batch}: enqueue returned, but {len(missing)} of {len(uids)} jobs "
                       f"are missing: {missing[:5]}")
        else:
            interrupted += 1
            if present and len(present) != len(uids):
                v.fail(f"HALF A BATCH: batch {batch} was interrupted (its producer was killed) and "
                       f"{len(present)} of its {len(uids)} jobs were stored; a batch is all-or-nothing")

    # ── final state: every job completed, or dead-lettered if it is poison ──
    dlq_by_job = {d.original_job_id: d for d in e.dead_letters}
    kinds = Counter()
    for uid, job in by_uid.items():
        kind = job.payload.get("kind")
        kinds[kind] += 1
        status = job.status.value
        if kind == "poison":
            _check_poison(v, e, job, dlq_by_job.get(job.id), dead | {pid for pid, *_ in stop_windows},
                          _alive_through_a_stop(e.worker_records, stop_windows))
        elif status != "completed":
            v.fail(f"STUCK/LOST: {kind} job {job.id} (uid {uid}) ended {status} after {job.tentativas} "
                   f"attempts (last error: {job.error_type}: {job.last_error})")
    for entry in e.dead_letters:
        if entry.payload.get("kind") != "poison":
            v.fail(f"job {entry.original_job_id} ({entry.payload.get('uid')}) was dead-lettered: {entry.error_type}")
    if not e.drained:
        v.fail("the queue did not drain: jobs were still pending or processing at the deadline")

    # ── fencing: one holder per lease, one accepted completion, carrying the final token ──
    runs = _runs(e.worker_records)
    runs_by_uid: dict[str, list[_Run]] = defaultdict(list)
    for (uid, tok), same in runs.items():
        if len({run.pid for run in same}) > 1:
            v.fail(f"LEASE SHARED: uid {uid} token {tok} was run by processes {sorted({r.pid for r in same})}")
        runs_by_uid[uid].extend(same)
    accepted_total = rejected_total = 0
    for uid, job in by_uid.items():
        mine = runs_by_uid.get(uid, [])
        accepted = [run for run in mine if run.outcome == "accepted"]
        rejected_total += sum(1 for run in mine if run.outcome in ("rejected", "fail-rejected"))
        accepted_total += len(accepted)
        final = job.lease_token
        late = [run for run in mine if run.tok > final]
        if late:
            v.fail(f"uid {uid} ran with token {late[0].tok} after its final token {final}")
        if len(accepted) > 1:
            v.fail(f"STALE COMPLETION ACCEPTED: uid {uid} had {len(accepted)} accepted completions "
                   f"(tokens {[r.tok for r in accepted]}, pids {[r.pid for r in accepted]})")
        if job.status.value == "completed":
            result = job.result if isinstance(job.result, dict) else {}
            if result.get("uid") != uid or result.get("tok") != final:
                v.fail(f"STALE COMPLETION ACCEPTED: uid {uid} completed with result {result!r}, but its "
                       f"final lease token is {final}")
            if accepted and accepted[0].tok != final:
                v.fail(f"STALE COMPLETION ACCEPTED: uid {uid} accepted token {accepted[0].tok}, final is {final}")
            if not accepted and result.get("pid") not in dead:
                v.fail(f"uid {uid} is completed by pid {result.get('pid')}, which recorded no accepted "
                       "completion and was not killed")
        elif accepted:
            v.fail(f"uid {uid} had an accepted completion but ended {job.status.value}")
        _check_duplicates(v, uid, mine, final, job.status.value == "completed", dead, stop_windows)

    # ── delayed jobs never ran before they were due (one host, one wall clock) ──
    for uid, delay in delayed.items():
        job = by_uid.get(uid)
        starts = [run.start for run in runs_by_uid.get(uid, [])]
        if job is not None and starts and min(starts) < job.created_ts + delay - 0.001:
            v.fail(f"EARLY: uid {uid} ran {job.created_ts + delay - min(starts):.3f}s before its {delay}s delay")

    # ── the stopped worker's late completions were refused ──
    fenced = unchallenged = 0
    for pid, t_frozen, t_cont in stop_windows:
        for run in (r for same in runs.values() for r in same):
            if run.pid != pid or run.start > t_frozen or (run.end is not None and run.end < t_cont):
                continue
            if run.outcome == "accepted" and _never_taken_over(run, by_uid, runs_by_uid, e.expiries):
                # A SIGSTOP can land while the process holds a shard's write lock: then no other
                # process can recover that shard's leases until SIGCONT, the token stays current,
                # and accepting the completion is right (the checks above prove it was the only one).
                unchallenged += 1
            elif run.outcome == "accepted":
                v.fail(f"STALE COMPLETION ACCEPTED: pid {pid} was stopped for {t_cont - t_frozen:.1f}s during "
                       f"uid {run.uid} token {run.tok}, and its completion was accepted afterwards")
            elif run.outcome in ("rejected", "fail-rejected"):
                fenced += 1
    caught = [ev for ev in stops if ev.get("uid")]
    if caught and not fenced and not unchallenged and not any(ev["pid"] in dead for ev in caught):
        v.fail(f"the stopped worker (pid {caught[0]['pid']}) was caught running uid {caught[0]['uid']}, but "
               "no late completion of it was recorded as refused")

    # ── processes and the WAL ──
    for ev in events:
        if ev["ev"] == "exit" and ev["role"] == "worker" and ev["pid"] not in dead and not ev.get("final"):
            v.fail(f"worker pid {ev['pid']} exited on its own with code {ev['code']} (see {ev.get('stderr')})")
        if ev["ev"] == "exit" and ev.get("final") and ev["code"] != 0:
            v.fail(f"{ev['role']} pid {ev['pid']} ended with code {ev['code']} at shutdown (see {ev.get('stderr')})")
    if e.wal_max > e.wal_bound:
        v.fail(f"WAL grew to {e.wal_max} bytes, over the bound of {e.wal_bound}")

    expiries = [(job_id, att, wid) for job_id, items in e.expiries.items() for att, wid in items]
    unforced = [x for x in expiries if _pid_of(x[2]) not in dead and _pid_of(x[2]) not in {p for p, *_ in stop_windows}]
    v.summary = {
        "jobs": len(by_uid), "by_kind": dict(kinds), "dead_letters": len(e.dead_letters),
        "runs": sum(len(s) for s in runs.values()),
        "duplicate_runs": sum(len(s) for s in runs_by_uid.values()) - len(runs_by_uid),
        "accepted_acks": accepted_total, "refused_acks": rejected_total, "stale_acks_refused_after_stop": fenced,
        "late_acks_of_untaken_leases_after_stop": unchallenged,
        "driver_kills": len(killed), "poison_kills": len(poisoned), "stops": len(stops),
        "interrupted_batches": interrupted, "delayed_jobs": len(delayed), "lease_expiries": len(expiries),
        "unforced_lease_expiries": len(unforced), "wal_max_bytes": e.wal_max, "wal_bound_bytes": e.wal_bound,
        "unreadable_log_lines": e.unreadable_lines,
    }
    return v


def _never_taken_over(run: _Run, by_uid: dict[str, Any], runs_by_uid: dict[str, list[_Run]],
                      expiries: dict[int, list[tuple[int, str | None]]]) -> bool:
    """Whether `run`'s lease was never recovered nor re-claimed: its token is the job's final
    one, no other run of the job holds this token or a later one, and no expiry was recorded for
    this attempt or a later one. Earlier attempts (a killed worker's, recovered before this run
    was claimed) say nothing about this lease."""
    job = by_uid.get(run.uid)
    if job is None or job.lease_token != run.tok:
        return False
    later = [r for r in runs_by_uid.get(run.uid, []) if r is not run and r.tok >= run.tok]
    expired = [attempt for attempt, _worker in expiries.get(job.id, []) if attempt >= run.att]
    return not later and not expired


def _freeze(records: list[dict[str, Any]], pid: int, t_stop: float, t_cont: float) -> tuple[int, float, float]:
    """(pid, when it froze, when SIGCONT was sent). A SIGSTOP takes effect a little after it is
    sent (each thread stops on its way back to user space), so the freeze is dated by the
    process's own last record before the SIGCONT was sent, not by the driver's clock."""
    before = [r["t"] for r in records if r["pid"] == pid and r["t"] < t_cont]
    return pid, max(before, default=t_stop), t_cont


def _alive_through_a_stop(records: list[dict[str, Any]], stop_windows: list[tuple[int, float, float]]) -> set[int]:
    """The workers whose records span a SIGSTOP window: while the frozen process held a shard's
    write lock, their heartbeats to that shard waited too, so a job they held there could expire."""
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    for r in records:
        first[r["pid"]] = min(first.get(r["pid"], r["t"]), r["t"])
        last[r["pid"]] = max(last.get(r["pid"], r["t"]), r["t"])
    return {pid for pid in first for stopped, frozen, cont in stop_windows
            if pid != stopped and first[pid] <= cont and last[pid] >= frozen}


def _check_poison(v: Verdict, e: Evidence, job: Any, entry: Any, gone: set[int],
                  through_stop: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    uid = job.payload["uid"]
    allowed = e.poison_attempts
    if job.status.value != "failed" or entry is None:
        v.fail(f"POISON: uid {uid} ended {job.status.value} (dead-lettered: {entry is not None}); "
               f"it should be in the DLQ after {allowed} attempts")
        return
    expired = e.expiries.get(job.id, [])
    if (job.tentativas, job.max_tentativas, entry.attempts, len(expired)) != (allowed,) * 4:
        v.fail(f"POISON: uid {uid} reached the DLQ after attempts={job.tentativas} (DLQ entry says "
               f"{entry.attempts}, {len(expired)} expiries recorded, max {job.max_tentativas}); "
               f"expected exactly {allowed}")
    # `gone`: the workers that died, and the one SIGSTOPped past its lease (a poison job it held
    # unstarted then expires with it, charged as the documented conservative case)
    for attempt, worker_id in expired:
        pid = _pid_of(worker_id)
        if pid in through_stop and not any(r["ev"] == "start" and r.get("uid") == uid and r["pid"] == pid
                                           for r in e.worker_records):
            continue  # held unstarted while a frozen process kept its heartbeats out (see above)
        if pid not in gone:
            v.fail(f"POISON: uid {uid} attempt {attempt} expired in {worker_id}, which neither died nor was stopped")
    starts = [r for r in e.worker_records if r["ev"] == "start" and r.get("uid") == uid]
    if len(starts) > allowed:
        v.fail(f"POISON: uid {uid} ran {len(starts)} times; it is allowed {allowed}")


def _check_duplicates(
    v: Verdict, uid: str, runs: list[_Run], final: int, completed: bool, dead: set[int],
    stop_windows: list[tuple[int, float, float]],
) -> None:
    """Every run but the one whose completion counted must be explained by a kill, a stop, a
    recorded failure, or a lease that expired (and was refused by fencing)."""
    if len(runs) < 2:
        return
    for run in runs:
        if completed and run.tok == final and run.outcome in ("accepted", None):
            continue  # the run that counted (its record may have died with its process)
        if run.pid in dead:
            continue
        if any(pid == run.pid and run.start <= t_cont for pid, _t, t_cont in stop_windows):
            continue
        if run.outcome in ("failed", "rejected", "fail-rejected"):
            continue
        v.fail(f"UNEXPLAINED DUPLICATE: uid {uid} ran in pid {run.pid} with token {run.tok} (outcome "
               f"{run.outcome}), which was neither killed nor stopped and whose lease did not expire")
