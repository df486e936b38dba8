"""The per-minute event metrics of the SQLite backend (the rollup).

Acks return what the metrics need from their own UPDATE (`RETURNING` task, claim and due
times, queue name), so counting costs no extra statement: the figures are summed in memory per shard and
written inside that shard's next write transaction once a second has passed (normally a
grouped ack), and at `close()`. A process killed with SIGKILL loses at most its last second of
figures; the jobs themselves are never affected."""

from __future__ import annotations

import sqlite3
import threading
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from operator import add
from typing import TYPE_CHECKING, Any

from ..._json import dumps
from ...models import HISTOGRAM_BUCKETS, ErrorInfo, Lease, MetricRow
from ._ids import job_id_of, rowid_of
from ._sql import Q

if TYPE_CHECKING:
    from .shard import Shard

__all__ = ["FLUSH_EVERY", "Fact", "METRICS_RETENTION", "MetricsReader", "Rollup", "ack_facts", "drop_old_metrics", "minute_of",
           "outcome_of", "record_expired", "task_of_json", "task_of_payload"]

# Per-minute rows are kept this long; the all-time rows (minute 0) are kept for ever.
METRICS_RETENTION = 8 * 86400.0
# Buffered figures are written at most this often (seconds) per shard and process.
FLUSH_EVERY = 1.0
_LABEL_CHARS = 100
_BOUNDS = [repr(bound) for bound in HISTOGRAM_BUCKETS] + ["+Inf"]
# bucket i holds the figures x with _LOWER[i] < x <= _UPPER[i] (what bisect_left returns i for)
_LOWER = (float("-inf"), *HISTOGRAM_BUCKETS)
_UPPER = (*HISTOGRAM_BUCKETS, float("inf"))
# how the payload encoder writes a task envelope's start (compact JSON, `__task__` first)
_MOST_INFLIGHT = 200_000
_TASK_PREFIX = '{"__task__":"'

Key = tuple[int, str, str, str, str]  # minute, queue, task, metric, label
# An attempt's facts: (task, started_at, run_at, queue name), remembered from its claim or read
# from its row; the task is None for a payload that is not a task envelope.
Fact = Sequence[Any]


def minute_of(now: float) -> int:
    return int(now // 60) * 60


def outcome_of(error: ErrorInfo, retrying: bool) -> str:
    if error.type == "JobTimeout":
        return "timeout"
    return "retry" if retrying else "dead_letter"


def task_of_payload(payload: dict[str, Any]) -> str:
    """The task name of a task envelope ('' for other payloads)."""
    task = payload.get("__task__")
    return task if isinstance(task, str) else ""


def task_of_json(payload_json: str) -> str:
    """The task name of a task envelope's JSON text, cheaply ('' for other payloads)."""
    if not payload_json.startswith(_TASK_PREFIX):
        if '"__task__"' not in payload_json:
            return ""
        import json

        value = json.loads(payload_json).get("__task__")
        return value if isinstance(value, str) else ""
    end = payload_json.find('"', len(_TASK_PREFIX))
    name = payload_json[len(_TASK_PREFIX):end]
    if "\\" in name or end < 0:
        import json

        value = json.loads(payload_json).get("__task__")
        return value if isinstance(value, str) else ""
    return name


class Rollup:
    """Figures not yet written, per shard, and what this process claimed; safe across threads.

    A claim remembers each job's task, claim and due times and queue (a dict insert a job), so the ack
    that follows in the same process needs no statement to count it; acks of jobs claimed
    elsewhere read those facts from their rows instead."""

    def __init__(self, shards: int) -> None:
        self._pending: list[dict[Key, float]] = [{} for _ in range(shards)]
        # a lone ack's duration and wait figures per (minute, queue, task), summed here and
        # spread into `_pending`'s keys at `drain` (see `attempt`)
        self._timings: list[dict[tuple[int, str, str], list[Any]]] = [{} for _ in range(shards)]
        self._next_flush = [0.0] * shards
        self._lock = threading.Lock()
        self._inflight: dict[int, tuple[int, tuple[Any, ...]]] = {}  # job id -> token, (job id, *fact)
        # lone enqueues append (minute, queue, task) without the lock (list.append is atomic); summed at write
        self._enqueues: list[list[tuple[int, str, str]]] = [[] for _ in range(shards)]
        # the last lone enqueue's key and what it holds for (see `_lone_key`): its minute's start
        # and end, queue, and the start of a payload of its task (None: a payload with no task)
        self._lone: tuple[float, float, str, str | None, tuple[int, str, str]] = (0.0, -1.0, "", None, (0, "", ""))

    def claimed(self, jobs: Iterable[Any]) -> None:
        inflight = self._inflight
        for job in jobs:
            payload = job[2]
            # job id -> (lease_token, (job id, task, started_ts, run_ts, queue_name)): `take` hands
            # out the inner tuple as it is, built here once rather than rebuilt at the ack
            inflight[job[0]] = (job[9], (job[0], payload.get("__task__") if type(payload) is dict else None,
                                         job[11], job[8], job[21]))

    def take(self, leases: Iterable[Lease]) -> tuple[list[tuple[Any, ...]], list[Lease]]:
        """([(job id, *fact)] of leases this process claimed, the other leases)."""
        pop = self._inflight.pop
        facts: list[tuple[Any, ...]] = []
        missing: list[Lease] = []
        for lease in leases:
            job_id, _shard, token, _worker = lease
            entry = pop(job_id, None)
            if entry is not None and entry[0] == token:
                facts.append(entry[1])
            else:
                missing.append(lease)
        return facts, missing

    def take_one(self, lease: Lease) -> tuple[Any, ...] | None:
        """`take` of one lease (a lone ack's): its (task, started_at, run_at, queue), or None when
        this process did not claim it (the ack reads them from the row)."""
        entry = self._inflight.pop(lease.job_id, None)
        if entry is None or entry[0] != lease.token:
            return None
        return entry[1][1:]

    def forget(self, leases: Iterable[Lease]) -> None:
        for lease in leases:
            self._inflight.pop(lease.job_id, None)

    def attempts(self, shard_id: int, facts: Sequence[Fact], outcome: str, now: float) -> None:
        """Count finished attempts from their facts (grouped by queue and task first: this runs
        for every ack batch)."""
        if len(facts) <= 1:
            if facts:
                self.attempt(shard_id, facts[0], outcome, now)
            return
        per_task = _one_kind_tallies(facts, now)
        if per_task is None:
            per_task = _tallies(facts, now)
        minute = minute_of(now)
        with self._lock:
            pending = self._pending[shard_id]
            timings = self._timings[shard_id]
            for (queue, task), (count, *timing) in per_task.items():
                head = (minute, queue, task if isinstance(task, str) else "")
                key = (*head, "attempt", outcome)
                pending[key] = pending.get(key, 0.0) + count
                # summed into the minute's accumulator, spread into metric keys at `drain`
                # (as `attempt` does): five keys hashed and summed a batch were ~4 us of it
                summed = timings.get(head)
                if summed is None:
                    timings[head] = timing
                else:
                    summed[0] += timing[0]
                    summed[1] += timing[1]
                    summed[2] = list(map(add, summed[2], timing[2]))
                    summed[3] = list(map(add, summed[3], timing[3]))

    def attempt(self, shard_id: int, fact: Fact, outcome: str, now: float) -> None:
        """The lone ack's case of `attempts`: the attempt counted under its key, and its duration
        and wait added to one accumulator of its minute, queue and task (sums and bucket
        counts), spread into their keys when the shard's figures are drained. One key tuple and
        one accumulator look-up instead of five keys hashed and summed: 2.0 -> 1.3 µs a call
        (timeit of `attempt`, best of 15; docs/benchmarks.md, One-job path cost)."""
        task, started, run_at, queue = fact
        if type(task) is not str:
            task = ""
        if started is None:
            started = now
        duration, wait = now - started, started - run_at
        if duration < 0:
            duration = 0.0
        if wait < 0:
            wait = 0.0
        head = (minute_of(now), queue, task)
        with self._lock:
            pending = self._pending[shard_id]
            key = (*head, "attempt", outcome)
            pending[key] = pending.get(key, 0.0) + 1.0  # also makes the shard's figures pending
            timings = self._timings[shard_id]
            timing = timings.get(head)
            if timing is None:
                timing = timings[head] = [0.0, 0.0, [0] * len(_BOUNDS), [0] * len(_BOUNDS)]
            timing[0] += duration
            timing[1] += wait
            timing[2][bisect_left(HISTOGRAM_BUCKETS, duration)] += 1
            timing[3][bisect_left(HISTOGRAM_BUCKETS, wait)] += 1

    def failures(self, shard_id: int, facts: Iterable[Fact], error: ErrorInfo, now: float) -> None:
        """Count a failed attempt of each fact's queue and task, labelled with the error type."""
        minute, label = minute_of(now), (error.type or "Error")[:_LABEL_CHARS]
        with self._lock:
            pending = self._pending[shard_id]
            for task, _started, _run_at, queue in facts:
                key = (minute, queue, task if isinstance(task, str) else "", "failure", label)
                pending[key] = pending.get(key, 0.0) + 1.0

    def enqueued(self, shard_id: int, jobs: Iterable[tuple[str, str]], now: float) -> None:
        """Count enqueued jobs from (queue name, task) pairs."""
        minute = minute_of(now)
        with self._lock:
            pending = self._pending[shard_id]
            for queue, task in jobs:
                key = (minute, queue, task, "enqueued", "")
                pending[key] = pending.get(key, 0.0) + 1.0

    def enqueued_counts(self, shard_id: int, counts: dict[tuple[str, str], int], now: float) -> None:
        """`enqueued` of many jobs at once: (queue name, task) -> how many."""
        minute = minute_of(now)
        with self._lock:
            pending = self._pending[shard_id]
            for (queue, task), count in counts.items():
                key = (minute, queue, task, "enqueued", "")
                pending[key] = pending.get(key, 0.0) + count

    def enqueued_lone(self, shard_id: int, queue: str, payload_json: str, now: float) -> bool:
        """The lone enqueue's case of `enqueued`, then `due`: one append, summed when the shard
        is written.

        A job of the last lone enqueue's minute, queue and task appends that enqueue's key, the
        same object (`_lone_key`): no minute computed, no tuple built and no task looked up a
        job, and `drain` counts the shared keys in C (`Counter`), not one by one in Python:
        `benchmarks/instr.py enqueue delay` (callgrind) 81.6k -> 77.9k and 105.1k -> 98.2k
        instructions a job."""
        start, end, last_queue, prefix, key = self._lone
        if not (start <= now < end and queue == last_queue
                and (payload_json.startswith(prefix) if prefix else '"__task__"' not in payload_json)):
            key = self._lone_key(queue, payload_json, now)
        self._enqueues[shard_id].append(key)
        return time.monotonic() >= self._next_flush[shard_id]

    def _lone_key(self, queue: str, payload_json: str, now: float) -> tuple[int, str, str]:
        """A lone enqueue's (minute, queue, task), kept for the next ones when a cheap test of
        their text tells they share it: no task key in the text, or the same envelope start
        (`{"__task__":"name"`, the name without escapes, so the text's name is this one)."""
        task = task_of_json(payload_json) if '"__task__"' in payload_json else ""
        minute = minute_of(now)
        key = (minute, queue, task)
        prefix = f'{_TASK_PREFIX}{task}"' if task else None
        if prefix is None or payload_json.startswith(prefix):  # else escapes spell the name: not kept
            # one assignment, so threads see all of it or none; float bounds: `now` compares
            # with a float without converting an int
            self._lone = (float(minute), minute + 60.0, queue, prefix, key)
        return key

    def has_pending(self, shard_id: int) -> bool:
        return bool(self._pending[shard_id] or self._enqueues[shard_id])

    def due(self, shard_id: int) -> bool:
        # has_pending, inlined: this runs after every lone enqueue and ack
        return bool(self._pending[shard_id] or self._enqueues[shard_id]) and time.monotonic() >= self._next_flush[shard_id]

    def write(self, conn: sqlite3.Connection, shard_id: int, force: bool = False) -> None:
        """Inside an open write transaction: write the shard's figures if a second has passed."""
        pending = self.drain(shard_id, force)
        if pending:
            rows = [(*key, value) for key, value in pending.items()]
            rows += [(0, *key[1:], value) for key, value in pending.items()]  # the all-time totals
            try:
                conn.executemany(Q.metrics_add, rows)
            except BaseException:
                self.restore(shard_id, pending)
                raise

    def drain(self, shard_id: int, force: bool = False) -> dict[Key, float]:
        """The shard's figures to write now (emptied here; `restore` them if the write fails),
        or {} when none are buffered or a second has not passed (unless `force`)."""
        if not (force or self.due(shard_id)):
            return {}
        if len(self._inflight) > _MOST_INFLIGHT:  # claims never acked here: their acks read rows
            self._inflight.clear()
        with self._lock:
            pending, self._pending[shard_id] = self._pending[shard_id], {}
            enqueues, self._enqueues[shard_id] = self._enqueues[shard_id], []
            timings, self._timings[shard_id] = self._timings[shard_id], {}
            self._next_flush[shard_id] = time.monotonic() + FLUSH_EVERY
        for (minute, queue, task), count in Counter(enqueues).items():  # lone enqueues share keys
            key = (minute, queue, task, "enqueued", "")
            pending[key] = pending.get(key, 0.0) + count
        for head, timing in timings.items():
            _add_timing(pending, head, *timing)
        return pending

    def restore(self, shard_id: int, figures: dict[Key, float]) -> None:
        with self._lock:
            pending = self._pending[shard_id]
            for key, value in figures.items():
                pending[key] = pending.get(key, 0.0) + value


def _tallies(facts: Sequence[Fact], now: float) -> dict[tuple[Any, Any], list[Any]]:
    """(queue, task) -> [attempts, summed durations, summed waits, duration bucket counts, wait
    bucket counts] of `facts`, whatever their queues and tasks (a tight loop a fact)."""
    per_task: dict[tuple[Any, Any], list[Any]] = {}
    bounds, buckets = HISTOGRAM_BUCKETS, len(_BOUNDS)
    # a run of facts of one queue and task (the common case) shares its tally without a key
    # tuple hashed a job (each fact's names are new str objects, their hashes not cached)
    tally: list[Any] = []
    last_queue = last_task = None
    # each figure's bucket is bisected only when it falls outside the last one's bounds:
    # a batch's jobs mostly share their duration's and their wait's buckets, and the chained
    # comparison costs ~70 instructions where bisect_left costs ~810 (callgrind, a loop of
    # 32 facts per call of this method)
    d_lo = d_hi = w_lo = w_hi = -1.0
    d_at = w_at = 0
    for task, started, run_at, queue in facts:
        if started is None:
            started = now
        duration, wait = now - started, started - run_at
        duration, wait = (duration if duration > 0 else 0.0), (wait if wait > 0 else 0.0)
        if not tally or queue != last_queue or task != last_task:
            last_queue, last_task = queue, task
            tally = per_task.get((queue, task))  # type: ignore[assignment]
            if tally is None:
                tally = per_task[(queue, task)] = [0, 0.0, 0.0, [0] * buckets, [0] * buckets]
        tally[0] += 1
        tally[1] += duration
        tally[2] += wait
        if not d_lo < duration <= d_hi:
            d_at = bisect_left(bounds, duration)
            d_lo, d_hi = _LOWER[d_at], _UPPER[d_at]
        if not w_lo < wait <= w_hi:
            w_at = bisect_left(bounds, wait)
            w_lo, w_hi = _LOWER[w_at], _UPPER[w_at]
        tally[3][d_at] += 1
        tally[4][w_at] += 1
    return per_task


def _one_kind_tallies(facts: Sequence[Fact], now: float) -> dict[tuple[Any, Any], list[Any]] | None:
    """`_tallies` of facts that are all alike (one queue, one task, one claim time, one due
    time: a grouped ack of the jobs one claim took from one batch enqueue, the common case),
    told by one pass of C comparisons over the list (`list.count`) instead of a loop step a
    fact; None for any other facts. The sums are products (equal to the loop's up to rounding).
    Rollup.attempts over batches of 32 such facts (callgrind, 32k vs 64k facts), with the
    accumulator per minute, queue and task that `attempts` now adds to: 4.77k -> 1.39k
    instructions a fact."""
    first = facts[0]
    if facts.count(first) != len(facts):
        return None
    task, started, run_at, queue = first
    if started is None:
        started = now
    count = len(facts)
    duration, wait = now - started, started - run_at
    duration, wait = (duration if duration > 0 else 0.0), (wait if wait > 0 else 0.0)
    duration_counts, wait_counts = [0] * len(_BOUNDS), [0] * len(_BOUNDS)
    duration_counts[bisect_left(HISTOGRAM_BUCKETS, duration)] = count
    wait_counts[bisect_left(HISTOGRAM_BUCKETS, wait)] = count
    return {(queue, task): [count, duration * count, wait * count, duration_counts, wait_counts]}


def ack_facts(conn: sqlite3.Connection, shard_id: int, leases: Sequence[Lease]) -> list[tuple[Any, ...]]:
    """(job id, *fact) of the processing rows of leases about to be acked."""
    rowids = [rowid_of(lease.job_id) for lease in leases]
    return [(job_id_of(row[0], shard_id), *row[1:]) for row in conn.execute(Q.ack_facts, (dumps(rowids),))]


def record_expired(conn: sqlite3.Connection, error: ErrorInfo, now: float) -> None:
    """Count the attempts whose lease expired (outcome lease_lost), before they are recovered."""
    conn.execute(Q.rollup_expired, {"now": now, "label": error.type[:_LABEL_CHARS], "minute": minute_of(now)})


def drop_old_metrics(conn: sqlite3.Connection, now: float) -> None:
    conn.execute(Q.drop_old_metrics, {"horizon": minute_of(now - METRICS_RETENTION)})


class MetricsReader:
    """`event_metrics`, mixed into the ShardManager's inspection verbs."""

    shards: list[Shard]
    rollup: Rollup

    def flush_metrics(self) -> None:
        """Write this process's buffered figures now (readers in this process see them)."""
        for shard in self.shards:
            if self.rollup.has_pending(shard.shard_id):
                with shard.write() as conn:
                    self.rollup.write(conn, shard.shard_id, force=True)

    def event_metrics(self, since: float | None = None, name: str | None = None) -> list[MetricRow]:
        self.flush_metrics()
        params: dict[str, Any]
        if since is None:
            sql, params = Q.read_metric_totals, {}
        elif name is None:
            sql, params = Q.read_metric_minutes, {"since": minute_of(since)}
        else:
            sql, params = Q.read_metric_minutes_named, {"since": minute_of(since), "name": name}
        totals: dict[Key, float] = {}
        for shard in self.shards:
            for minute, queue, task, metric, label, value in shard.read(sql, params):
                key = (minute, queue, task, metric, label)
                totals[key] = totals.get(key, 0.0) + value
        return [MetricRow(*key, value) for key, value in sorted(totals.items())]


def _add_timing(pending: dict[Key, float], head: tuple[int, str, str], durations: float, waits: float,
                duration_counts: list[int], wait_counts: list[int]) -> None:
    """Add one (minute, queue, task)'s summed durations and waits, and their histogram bucket
    counts, to `pending` under their metric keys."""
    figures = [("duration", "sum", durations), ("wait", "sum", waits)]
    figures += [("duration", _BOUNDS[i], n) for i, n in enumerate(duration_counts) if n]
    figures += [("wait", _BOUNDS[i], n) for i, n in enumerate(wait_counts) if n]
    for metric, label, value in figures:
        key = (*head, metric, label)
        pending[key] = pending.get(key, 0.0) + value
