"""The storage seam: the `Backend` protocol every storage engine implements, and its contract.

Contract (what every backend guarantees; the conformance suite in
`tests/conformance` checks each point):

1. A job is leased to at most one worker at a time; `claim` never returns a job whose lease
   is live or whose `run_at` is in the future.
2. Every claim bumps the job's fencing token. `complete_many`, `retry`, `bury`, `release` and
   `extend` with a stale token (or for a job that is no longer processing) change nothing and
   report it: the single-job verbs raise `LeaseLost`, the many-job verbs return the lost leases.
3. Expired leases become claimable again through `requeue_expired`, which counts the attempt
   (a job whose worker died has used one) and buries jobs that have no attempts left.
   Delivery is at-least-once.
4. Within a shard, claims go by priority descending, then `run_at`, then enqueue order.
5. Job ids are globally unique ints that name their shard (`shard_of(id)`).
6. A dedupe key yields at most one live (pending or processing) job per key: enqueueing a
   duplicate returns the live job's reference, with `created=False`, instead of writing one.
   With `NewJob.dedupe_window`, a job of the key completed within that many seconds of `now`
   counts too (a live one first, else the latest completed).
7. One backend object is safe to use from many threads; several processes may open the
   same storage at once.

8. Every job belongs to one named queue (`NewJob.queue_name`, default "default").
   `claim(..., queue=name)` reads only that queue's jobs, on an index that leads with the name;
   `claim(..., exclude=names)` claims from every other queue.
9. Flow-control state is host-wide (on PostgreSQL, cluster-wide): every process that opens the
   same storage shares it, and it survives restarts.
   - Token buckets (`take_tokens` / `return_tokens`): a bucket starts full at `burst`, refills
     at `rate` tokens per second up to `burst`, and never grants more than it holds, so over
     any window at most `burst + rate * window` tokens are taken.
   - Circuit breakers (`breaker_record` / `breaker_gate`): consecutive failures recorded by any
     process open a breaker at `threshold`; a success closes it. Once `recovery_s` has passed,
     `breaker_gate` answers "trial" to exactly one caller (half-open), and "open" to the others
     until that trial records an outcome or its `trial_s` lapses (its worker died).
   - Concurrency slots (`take_slots` / `free_slots`): at most `limit` live slots per scope; a slot
     lives until it is freed or until `until` (its lease) passes; `heartbeat(holder)` extends
     the slots of that holder along with its leases.
   - Paused queues (`set_paused`): durable; `claim_blocks` names them with the breakers that are
     not closed or count failures, in one cheap read, so a claim can skip them.
   - `flow_token()` changes, without a round trip to storage, whenever a process of the host
     (of the cluster, on PostgreSQL) has changed paused queues or breakers, so callers cache
     `claim_blocks` until it moves. It may also move when nothing changed.
   None of these verbs is called for a queue that has no limit configured.
10. The worker registry holds one `WorkerPresence` per worker (keyed by worker id, host and
    pid) that every process opening the same storage sees (on PostgreSQL, from every host):
    `put_workers` adds or replaces records, `drop_workers` removes them, `list_workers(now)`
    returns those refreshed within the last day, sorted by worker id, less the records of
    processes of the caller's own host that no longer exist. Writing it never changes
    `change_token()`: an idle worker's heartbeat wakes no other process.

All instants below the seam are epoch floats (UTC seconds); `now` is always passed in so
that tests can drive time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..models import (
    BreakerView,
    DeadLetter,
    ErrorInfo,
    FlowState,
    Job,
    JobProgress,
    JobQuery,
    JobRef,
    JobStatus,
    Lease,
    MetricRow,
    NewJob,
    RecoveryReport,
    WorkerPresence,
)

__all__ = ["Backend", "Completion", "Inspector", "Notifying", "Transactional"]

# (lease, result as JSON text or None)
Completion = tuple[Lease, "str | None"]


@runtime_checkable
class Inspector(Protocol):
    """The reading side of a backend: what `inspect`, `stats`, `health` and workers look at.

    Every verb only reads; none takes a write lock, so they work on read-only storage."""

    @property
    def num_shards(self) -> int:
        """How many independent partitions the backend has (1 if it has no shards)."""
        ...

    @property
    def location(self) -> str:
        """Where the jobs live, for people: a directory, or a URL without its password."""
        ...

    @property
    def local_dir(self) -> Path | None:
        """A directory on this host that every process of the queue shares (the data directory
        of SQLite), where workers keep files about themselves; None if there is none (PostgreSQL)."""
        ...

    def shard_of(self, job_id: int) -> int:
        """The shard a job id lives in; raises `JobNotFound` for an id no shard could hold."""
        ...

    def get(self, job_id: int) -> Job | None:
        """One job with its recorded errors, or None."""
        ...

    def progress(self, job_id: int) -> JobProgress | None:
        """The progress the job's handler last reported, or None (none reported, or no such job)."""
        ...

    def list_jobs(
        self, status: JobStatus | None, limit: int, shard_id: int | None = None,
        queue_name: str | None = None,
    ) -> list[Job]:
        """Jobs in a status (all statuses if None), of one named queue (all if None), oldest first."""
        ...

    def counts(self, now: float, shard_id: int | None = None, *, queue_name: str | None = None) -> dict[str, int]:
        """Jobs per status, plus `scheduled` (pending, not yet due) and `dead_letter` (of the
        jobs of `queue_name` only, if given)."""
        ...

    def shard_stats(self, shard_id: int, now: float) -> dict[str, Any]:
        """`counts` of one shard plus `shard_id`, and what else the backend records about it
        (`path`, `version`, `created_at`, `last_vacuum`, `total_jobs_processed`,
        `total_jobs_failed`; None where it has no such thing)."""
        ...

    def queue_counts(self, now: float) -> dict[str, dict[str, int]]:
        """Jobs per status (and `scheduled`) for each queue name that has jobs, sorted by name."""
        ...

    def claim_blocks(self) -> tuple[frozenset[str], dict[str, BreakerView]]:
        """(paused queue names, by scope the breakers that are not closed or count failures), in
        one cheap read."""
        ...

    def flow_token(self) -> object:
        """A value that moves when paused queues or breakers may have changed (see point 9); no
        storage round trip."""
        ...

    def flow_state(self, now: float) -> FlowState:
        """Every paused queue, breaker, bucket and live slot count (for stats and health)."""
        ...

    def count_live(self) -> int:
        """Pending plus processing jobs, cheaply (for wait-until-empty and autoscaling)."""
        ...

    def has_ready(self, now: float) -> bool:
        """Whether any job could be claimed at `now` (a cheap read, no write lock)."""
        ...

    def oldest_ready(self, now: float, *, queue_name: str | None = None) -> float | None:
        """The earliest `run_at` among jobs claimable at `now` (the backlog's age), of the jobs of
        `queue_name` only if given; None if none."""
        ...

    def find_jobs(self, query: JobQuery, limit: int) -> list[Job]:
        """Up to `limit` jobs matching every set field of `query`, newest (highest id) first,
        without their error history. Keyset pagination: pass the last id of a page as
        `before_id` for the next one; a page costs the same at any depth (never an OFFSET).
        A scan that outlasts `query.time_budget` seconds stops with `SearchTimeout`."""
        ...

    def next_due(self) -> float | None:
        """The earliest `run_at` of a scheduled job (stored before it was due); None when no job
        is scheduled. Idle workers sleep until then instead of polling."""
        ...

    def dlq_list(
        self, limit: int, shard_id: int | None = None, error_type: str | None = None, *,
        queue_name: str | None = None,
    ) -> list[DeadLetter]:
        """Dead letters, newest first. `error_type` matches the stored type name exactly, or its
        last dotted part (`"JobTimeout"` finds `"queue_max.workers.errors.JobTimeout"`). A dead
        letter belongs to the named queue of its job (`queue_name` keeps only that queue's)."""
        ...

    def dlq_count(
        self, shard_id: int | None = None, error_type: str | None = None, *, queue_name: str | None = None
    ) -> int:
        """How many dead letters match the filter (the dry run of a bulk requeue or prune)."""
        ...

    def list_schedules(self) -> list[dict[str, Any]]:
        """Every schedule: name, next_run_at, last_run_at, last_job_id."""
        ...

    def trace_contexts(self, job_ids: Sequence[int]) -> dict[int, str]:
        """The stored trace context (`NewJob.trace`) of each job that has one, by job id; kept
        from the enqueue across every retry, never in the payload."""
        ...

    def event_metrics(self, since: float | None = None, name: str | None = None) -> list[MetricRow]:
        """Persisted event metrics summed over shards: with `since` None, the all-time totals
        (rows with minute 0); else the per-minute rows from `since` on (only metric `name` if
        given; minutes are kept 8 days). Backends write them in the transactions that enqueue,
        acknowledge, retry, bury and recover jobs: an `attempt` per finished attempt (label: its
        outcome), a `failure` per failed one (label: error type), `duration`/`wait` histogram
        buckets and sums, `enqueued` per job."""
        ...

    def change_token(self) -> Any:
        """An opaque value that changes whenever another connection commits (cheap to read)."""
        ...

    def list_workers(self, now: float) -> list[WorkerPresence]:
        """Every registered worker refreshed within the last day, by worker id (point 10)."""
        ...


@runtime_checkable
class Backend(Inspector, Protocol):
    """Durable job storage with domain verbs; see the module docstring for the contract."""

    # ── writing ──
    @property
    def concurrent_writes(self) -> int:
        """How many of one process's claims and acknowledgements are worth running at once:
        the workers of a `Queue` object let no more than this into storage together, and the
        rest wait their turn in the process (woken in order) instead of in the storage's own
        lock (SQLite's busy handler sleeps 1 ms, then longer)."""
        ...

    def enqueue_many(self, jobs: Sequence[NewJob], now: float) -> list[JobRef]:
        """Store every job or none of them; refs come back in input order."""
        ...

    def enqueue_one(self, job: NewJob, now: float) -> JobRef:
        """`enqueue_many((job,), now)[0]`: the lone enqueue (`Queue.enqueue`, `task.delay()`),
        without the batch's sequence around it."""
        ...

    def enqueue_payloads(
        self, payloads: Sequence[dict[str, Any]], max_attempts: int, now: float, max_payload_bytes: int
    ) -> list[int]:
        """Store validated payloads that use every default option (priority 0, due now, no
        keys), all or none, and return their ids in order; the bulk path of `enqueue_batch`.
        Refuses the whole call with `InvalidPayload` naming the first payload whose JSON exceeds
        `max_payload_bytes`."""
        ...

    def claim(
        self, worker_id: str, limit: int, lease_s: float, now: float,
        queue: str | None = None, exclude: Collection[str] = (),
    ) -> list[Job]:
        """Lease up to `limit` ready jobs to `worker_id` until `now + lease_s`: from the named
        `queue` only, or (None) from every queue but those in `exclude`."""
        ...

    def complete_many(
        self, completions: Sequence[Completion], now: float, result_ttl: float
    ) -> list[Lease]:
        """Mark leased jobs completed with their results (kept `result_ttl` seconds; 0 = delete
        at once) in as few transactions as possible; returns the leases that were stale."""
        ...

    def retry(self, lease: Lease, run_at: float, error: ErrorInfo, now: float) -> None:
        """Put a leased job back to pending, claimable from `run_at`, recording the error."""
        ...

    def bury(self, lease: Lease, error: ErrorInfo, now: float) -> None:
        """Move a leased job to the dead-letter queue (status failed), recording the error."""
        ...

    def release(self, leases: Sequence[Lease], now: float, run_at: float | None = None) -> list[Lease]:
        """Give leased jobs back untouched (the attempt is not counted); returns stale leases.
        With `run_at` later than `now`, they are not claimable before `run_at` (they wait for
        a per-key or per-task limit)."""
        ...

    def extend(self, leases: Sequence[Lease], until: float) -> list[Lease]:
        """Push the lease expiry of live leases to `until`; returns the leases that were lost."""
        ...

    def heartbeat(self, worker_id: str, until: float, shard_id: int | None = None) -> int:
        """Extend every lease held by `worker_id` (in one shard or all); returns how many."""
        ...

    def expire_leases(self, worker_id: str, now: float) -> int:
        """End every lease `worker_id` holds at `now` (its process is known dead), so that the
        next `requeue_expired` recovers them; returns how many leases were ended."""
        ...

    def requeue_expired(self, now: float, error: ErrorInfo) -> RecoveryReport:
        """Recover jobs whose lease expired: count the attempt, then requeue or bury them."""
        ...

    def cancel(self, job_id: int, now: float) -> bool:
        """Cancel a pending job; False if it is not pending (already running or finished)."""
        ...

    def request_cancel(self, job_id: int, now: float) -> bool:
        """Mark a running job so that its handler stops at its next check; False if it is not
        running."""
        ...

    def cancel_requested(self, job_id: int) -> bool:
        """Whether a cancel was asked of the job while it ran."""
        ...

    def cancel_running(self, lease: Lease, now: float) -> None:
        """End the leased job as cancelled (its handler stopped as asked); `LeaseLost` if the
        lease is not current."""
        ...

    def set_progress(self, lease: Lease, fraction: float, message: str | None) -> None:
        """Store the running job's progress (kept after it finishes); `LeaseLost` if the lease is
        not current."""
        ...

    # ── dead letters and housekeeping ──
    def dlq_requeue(
        self,
        now: float,
        job_ids: Iterable[int] | None = None,
        shard_id: int | None = None,
        error_type: str | None = None,
        *,
        queue_name: str | None = None,
    ) -> int:
        """Put dead jobs back to pending with fresh attempts, removing their DLQ entries
        (`error_type` and `queue_name` filter as in `dlq_list`)."""
        ...

    def dlq_prune(
        self, older_than: float | None = None, shard_id: int | None = None, *,
        error_type: str | None = None, job_ids: Iterable[int] | None = None, queue_name: str | None = None,
    ) -> int:
        """Delete dead letters (failed before `older_than`, or all; only those of `error_type`,
        among `job_ids` and of `queue_name` when given) and their jobs; returns how many entries went."""
        ...

    def purge(self, status: JobStatus | None, *, queue_name: str | None = None) -> int:
        """Delete every job in `status` (every job and dead letter if None), of `queue_name` only
        if given (with the dead letters of its failed jobs)."""
        ...

    def cleanup(self, now: float, finished_before: float, *, queue_name: str | None = None) -> int:
        """Delete completed/cancelled jobs finished before `finished_before`, and expired results
        (of `queue_name` only, if given)."""
        ...

    # ── periodic schedules (one row per schedule; firing a tick is atomic with its enqueue) ──
    def schedule_state(self, name: str, first_due: float) -> tuple[float, float | None]:
        """(next due time, last fired time) of a schedule, creating it due at `first_due`."""
        ...

    def fire_schedule(
        self, name: str, due: float, next_due: float, job: NewJob, now: float
    ) -> JobRef | None:
        """If the schedule is still due at `due`, move it to `next_due` and enqueue `job`, in one
        transaction; None when another process fired this tick first."""
        ...

    # ── host-wide flow control (contract point 9) ──
    def take_tokens(self, bucket: str, want: int, rate: float, burst: float, now: float) -> int:
        """Take up to `want` tokens from `bucket` (refilled at `rate`/s up to `burst`, created
        full); returns how many were taken, 0..want, in one write."""
        ...

    def return_tokens(self, bucket: str, count: int, burst: float, now: float) -> None:
        """Give back tokens taken but not used (never above `burst`)."""
        ...

    def breaker_gate(self, scope: str, recovery_s: float, trial_s: float, now: float) -> str:
        """"closed" (claim freely), "open" (claim nothing), or "trial": this caller holds the one
        half-open trial until it records an outcome or `now + trial_s` passes."""
        ...

    def breaker_record(
        self, scope: str, outcome: str, threshold: int, now: float
    ) -> tuple[str, str] | None:
        """Record "success", "failure" or "abandoned" (a trial that claimed nothing); returns
        (old state, new state) when the state changed. A success on a closed breaker with no
        failures writes nothing."""
        ...

    def take_slots(
        self, scope: str, count: int, limit: int, holder: str, until: float, now: float
    ) -> list[int]:
        """Take up to `count` of the `limit` concurrency slots of `scope` for `holder`, alive
        until `until`; returns the ids of the slots taken."""
        ...

    def free_slots(self, slot_ids: Sequence[int]) -> None:
        """Free slots (unknown or already expired ids are ignored)."""
        ...

    def extend_slots(self, slot_ids: Sequence[int], until: float) -> None:
        """Keep slots alive until `until` (with the leases of the jobs that hold them)."""
        ...

    def set_paused(self, queue_name: str, paused: bool, now: float) -> bool:
        """Pause or resume a queue; False when it already was in that state."""
        ...

    def put_workers(self, workers: Sequence[WorkerPresence]) -> None:
        """Add or replace these workers' records (a heartbeat: one write for all of them)."""
        ...

    def drop_workers(self, workers: Sequence[WorkerPresence]) -> None:
        """Remove these workers' records (they stopped); unknown ones are ignored."""
        ...

    def checkpoint(self) -> None:
        """Keep the write-ahead log small between automatic checkpoints (a no-op where the
        backend has nothing to do); called by maintenance when the queue is idle."""
        ...

    def close(self) -> None:
        """Release every connection; later calls raise `QueueClosed`."""
        ...


@runtime_checkable
class Transactional(Protocol):
    """A backend that can write jobs in a caller's own open database transaction (PostgreSQL)."""

    def enqueue_in(self, connection: Any, jobs: Sequence[NewJob], now: float) -> list[JobRef]:
        """Store jobs with the caller's `connection`, in its current transaction: they exist if
        and only if the caller commits (the wake-up is sent by that commit too)."""
        ...

    def transaction(self, connection: Any) -> AbstractContextManager[Any]:
        """A transaction block on the caller's connection (a savepoint inside an open one)."""
        ...

    def serves(self, dbname: str, host: str | None, port: int | None) -> bool:
        """Whether this backend's tables live in that database (so its transactions can join)."""
        ...


@runtime_checkable
class Notifying(Protocol):
    """A backend that pushes a wake-up when another process commits work (PostgreSQL's LISTEN),
    so idle workers need not wait for their next look at `change_token`."""

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from a background thread, quickly) whenever new work may be ready."""
        ...
