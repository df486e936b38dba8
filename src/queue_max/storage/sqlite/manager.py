"""ShardManager: the SQLite `Backend` — N shard files, routing, and random-order claim fan-out."""

from __future__ import annotations

import dataclasses

import itertools
from itertools import repeat
import logging
import operator
import random
import sqlite3
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from ...errors import ConfigError, JobNotFound, LeaseLost, ShardCountMismatch, StorageError
from ...models import ErrorInfo, Job, JobProgress, JobRef, Lease, NewJob, RecoveryReport
from ..base import Completion
from ..._json import dumps
from ._inspection import Inspection
from ._ids import MAX_SHARDS, id_range, job_id_of, rowid_of, shard_of_id
from ._complete import SomeLeaseLost, complete_all, complete_each
from ._insert import insert_group, insert_payloads
from ._flow import FlowControl
from ._layout import directory_lock, existing_shards, prepare_dir, read_only_dir
from ._rollup import Rollup, ack_facts, outcome_of, record_expired, task_of_json, task_of_payload
from ._rows import CLAIMED_COLUMNS, claimed_jobs, job_from_row
from ._sql import Q, claim_excluding
from ._tally import fold_tail, mark_counted, tally_claimed
from .shard import Shard, ShardOptions, translate

__all__ = ["MAX_SHARDS", "PROMOTE_EVERY", "ShardManager"]

_new_tuple = tuple.__new__

log = logging.getLogger("queue_max.storage")

# How often (seconds) a process moves due scheduled jobs of a shard into the ready index:
# the most a delayed job can start late, beyond the workers' own polling.
PROMOTE_EVERY = 0.005
# How long (seconds) a thread visits a shard it found empty after the others: long enough that a
# busy shard serves claim after claim without a look at the empty ones, short enough that jobs
# another process adds there wait no longer than this while this thread is busy elsewhere.
# Each look that finds the shard empty again doubles the wait, up to EMPTY_HINT_MAX; a job this
# process adds to the shard ends the wait at once.
EMPTY_HINT_TTL = 0.005
EMPTY_HINT_MAX = 0.1

# How long (seconds) the all-queues claim of a shard stops guessing that its run order holds one
# queue name after a wrong guess (see `_claim_guessed`): the most often a shard of several
# queues pays a statement for a guess.
GUESS_RETRY = 1.0
# where a batch claim's row holds its queue name (CLAIMED_COLUMNS)
_QUEUE_COLUMN = CLAIMED_COLUMNS.split(", ").index("queue_name")

# A thread's note that a shard was empty: (when, for how long, the shard's `_filled` count then)
Hint = tuple[float, float, int]


class ShardManager(Inspection, FlowControl):
    """N WAL-mode SQLite shards in one directory, used as one queue (implements `Backend`)."""

    def __init__(
        self,
        data_dir: str | Path,
        num_shards: int | None = None,
        *,
        options: ShardOptions | None = None,
        default_shards: int = 6,
    ) -> None:
        self.options = options or ShardOptions()
        if read_only_dir(data_dir):
            # a snapshot, a backup, a read-only mount: read it as it is, never lock or create
            self.options = dataclasses.replace(self.options, read_only=True)
        self.data_dir = Path(data_dir) if self.options.read_only else prepare_dir(data_dir)
        shards: list[Shard] = []
        # The lock makes "count the shard files, create the missing ones" atomic across
        # processes, so two first openers never see a half-created directory.
        with directory_lock(self.data_dir, shared=self.options.read_only):
            existing = existing_shards(self.data_dir)
            n = self._decide_count(num_shards, existing, default_shards)
            try:
                for shard_id in range(n):
                    shards.append(Shard(self.data_dir / f"shard_{shard_id}.db", shard_id, self.options))
                self._check_layout(shards, n)
            except BaseException:
                for shard in shards:
                    shard.close()
                raise
        self.shards = shards
        self._n = n
        self._rr = itertools.count(random.randrange(n))
        self._orders = _orders(n)
        self._local = threading.local()
        self._promote_due = [0.0] * n
        self._filled = [0] * n  # per shard, how many times this process added jobs to it (see Hint)
        self._lone_at = [0] * n  # per shard, its `_filled` count just after its last lone enqueue
        # per shard, the queue name its last all-queues claim leased alone, and when a wrong
        # guess lets it be guessed again (see _claim_guessed)
        self._one_name: list[str | None] = [None] * n
        self._guess_after = [0.0] * n
        self.rollup = Rollup(n)

    # ── layout ──
    @staticmethod
    def _decide_count(asked: int | None, existing: list[int], default: int) -> int:
        if asked is not None:
            if type(asked) is not int or not 1 <= asked <= MAX_SHARDS:
                raise ConfigError(f"shards must be an int between 1 and {MAX_SHARDS}, got {asked!r}")
        if not existing:
            return asked if asked is not None else default
        found = max(existing) + 1
        if asked is not None and asked != found:
            raise ShardCountMismatch(
                f"the data directory holds {found} shards (shard_0.db .. shard_{found - 1}.db) "
                f"but {asked} were asked for; jobs are routed by shard count, so reopening with "
                f"another count would strand them. Open it with shards={found} (or NUM_SHARDS="
                f"{found}), or drain it and use a new directory"
            )
        return found

    def _check_layout(self, shards: list[Shard], n: int) -> None:
        for shard in shards:
            meta = shard.metadata()
            recorded = meta.get("num_shards")
            if recorded is None and self.options.read_only:
                continue
            if recorded is None:
                with shard.write() as conn:
                    conn.execute(Q.set_meta, ("num_shards", n))
                continue
            if int(recorded) != n:
                raise ShardCountMismatch(
                    f"{shard.name} belongs to a queue of {recorded} shards, not {n}; "
                    f"open the directory with shards={recorded}"
                )
            if int(meta.get("shard_id", shard.shard_id)) != shard.shard_id:
                raise StorageError(
                    f"{shard.name} records shard id {meta.get('shard_id')}; shard files were "
                    "renamed or mixed between directories"
                )

    @property
    def num_shards(self) -> int:
        return self._n

    @property
    def concurrent_writes(self) -> int:
        """One, unless `durable`: then one per shard.

        With `synchronous=NORMAL` a commit does not wait for the disk, so a claim or an ack is
        CPU work (SQLite's and Python's, under one GIL) and runs no faster beside another on a
        different shard; side by side they cost: two threads meet on one shard's lock (SQLite's
        busy handler sleeps), each one's commit empties the others' page caches (read back from
        the WAL), and four threads pass the GIL back and forth. A 20k-job drain by 4 workers on 6
        shards (`strace -f -c`): 514 busy-handler sleeps, 12.6k WAL reads and 49.8k futex calls
        with one writer per shard, none, 5.1k and 15.0k with one at a time (one shard: 0, 4.6k
        and 14.2k); docs/benchmarks.md has the timed drains. With `durable=True` each commit
        waits for an fsync, and commits to different files overlap it."""
        return self._n if self.options.durable else 1

    def shard_of(self, job_id: int) -> int:
        if type(job_id) is not int:
            raise JobNotFound(job_id, f"{job_id!r} is not a queue-max job id (an int)")
        if job_id < MAX_SHARDS:
            raise JobNotFound(job_id)
        shard_id = shard_of_id(job_id)
        if shard_id >= self._n:
            raise JobNotFound(job_id)  # the message `get`'s callers give for any unknown id
        return shard_id

    def _route(self, job: NewJob) -> int:
        if job.dedupe_key is not None:
            return zlib.crc32(job.dedupe_key.encode("utf-8", "surrogatepass")) % self._n
        if job.shard_key is not None:
            return job.shard_key % self._n
        return next(self._rr) % self._n

    # ── enqueue ──
    def enqueue_many(self, jobs: Sequence[NewJob], now: float) -> list[JobRef]:
        if len(jobs) == 1 and jobs[0].dedupe_key is None and jobs[0].trace is None:
            return [self.enqueue_one(jobs[0], now)]
        groups = self._group(jobs)
        refs: list[JobRef | None] = [None] * len(jobs)
        def write(conn: sqlite3.Connection, shard_id: int) -> list[tuple[int, int]]:
            self.rollup.write(conn, shard_id)
            fold_tail(conn)
            inserted = insert_group(conn, shard_id, jobs, groups[shard_id], refs, now)
            mark_counted(conn)  # its rows are counted: readers need not look at them
            return inserted

        self._write_across(sorted(groups), write)
        for shard_id, indices in groups.items():
            self._filled[shard_id] += 1
            self.rollup.enqueued(shard_id, ((jobs[i].queue_name, task_of_json(jobs[i].payload_json)) for i in indices
                                            if refs[i] is not None and refs[i].created), now)  # type: ignore[union-attr]
        return refs  # type: ignore[return-value]

    def enqueue_payloads(
        self, payloads: Sequence[dict[str, Any]], max_attempts: int, now: float, max_payload_bytes: int
    ) -> list[int]:
        if not payloads:
            return []
        # one shard, one commit: atomic even if the process dies (see _group)
        shard_id = next(self._rr) % self._n
        firsts: list[int] = []
        array = dumps(payloads)

        def write(conn: sqlite3.Connection, shard_id: int) -> list[tuple[int, int]]:
            fold_tail(conn)
            first = insert_payloads(conn, array, len(payloads), max_attempts, now, max_payload_bytes, 0)
            mark_counted(conn)  # its rows are counted: readers need not look at them
            firsts.append(first)
            self.rollup.write(conn, shard_id)
            return [(first, first + len(payloads) - 1)]

        self._write_across([shard_id], write)
        self._filled[shard_id] += 1
        self.rollup.enqueued_counts(shard_id, _task_counts(payloads, array), now)
        return list(id_range(firsts[0], len(payloads), shard_id))

    def _write_across(
        self, shard_ids: list[int], write: Callable[[sqlite3.Connection, int], list[tuple[int, int]]]
    ) -> None:
        """Run `write` in one open transaction per shard (in shard order, so writers never
        deadlock), then commit them all; any failure rolls every shard back."""
        open_txs: list[tuple[Shard, Any]] = []
        inserted: dict[int, list[tuple[int, int]]] = {}
        current: Shard | None = None
        try:
            for shard_id in shard_ids:
                current = self.shards[shard_id]
                tx = current.write()
                conn = tx.__enter__()
                open_txs.append((current, tx))
                inserted[shard_id] = write(conn, shard_id)
        except BaseException as exc:
            for _shard, tx in reversed(open_txs):
                _abort(tx, exc)
            if isinstance(exc, sqlite3.Error) and current is not None:
                raise translate(exc, current.name) from exc
            raise
        self._commit_all(open_txs, inserted)

    def _group(self, jobs: Sequence[NewJob]) -> dict[int, list[int]]:
        """Indices of `jobs` per shard: keyed jobs by their key, the rest all on the next shard.

        Unkeyed jobs of a batch share one shard because one SQLite commit is atomic even when
        the process dies mid-way, while commits on several shards are not; batches rotate over
        the shards, so load still spreads."""
        groups: dict[int, list[int]] = {}
        free: list[int] = []
        for index, job in enumerate(jobs):
            if job.dedupe_key is None and job.shard_key is None:
                free.append(index)
            else:
                groups.setdefault(self._route(job), []).append(index)
        if free:
            groups.setdefault(next(self._rr) % self._n, []).extend(free)
        for indices in groups.values():
            indices.sort()
        return groups

    def enqueue_one(self, job: NewJob, now: float) -> JobRef:
        """A job without a dedupe key or trace, alone: one INSERT, its own transaction (others go
        through `enqueue_many`). The job is read in one unpacking and the ref built with
        tuple.__new__ (the lone enqueue is the hot path of `Queue.enqueue` and `.delay()`).
        A verb of its own, not `enqueue_many((job,), now)[0]`: one Python frame, the sequence
        and the list fewer, `benchmarks/instr.py enqueue delay` 75.8k -> 73.4k and 96.1k ->
        93.8k instructions a job."""
        payload_json, priority, max_attempts, run_at, shard_key, dedupe_key, trace, queue_name, concurrency_key, _ = job
        if dedupe_key is not None or trace is not None:
            return self.enqueue_many((job,), now)[0]
        shard_id = next(self._rr) % self._n if shard_key is None else shard_key % self._n
        shard = self.shards[shard_id]
        # counted later, when a transaction folds the tail (see TALLIES_SCHEMA)
        if run_at is None and shard_key is None and priority == 0 and queue_name == "default" \
                and concurrency_key is None:
            rowid = shard.run(Q.insert_plain_lone, (payload_json, max_attempts, now, now)).lastrowid or 0
        else:
            due = run_at is None or run_at <= now
            row = (shard_key, payload_json, priority, max_attempts, now, now if run_at is None else run_at,
                   "pending" if due else "scheduled", 1 if due else None)
            if queue_name == "default" and concurrency_key is None:
                rowid = shard.run(Q.insert_lone, row).lastrowid or 0
            else:
                rowid = shard.run(Q.insert_named_lone, (*row, queue_name, concurrency_key)).lastrowid or 0
        filled = self._filled[shard_id] = self._filled[shard_id] + 1
        self._lone_at[shard_id] = filled
        if self.rollup.enqueued_lone(shard_id, queue_name, payload_json, now):
            self._flush(shard)
        return _new_tuple(JobRef, (job_id_of(rowid, shard_id), shard_id, True))

    def _flush_if_due(self, shard: Shard) -> None:
        """After a lone-statement write: the buffered metrics, in a transaction of their own
        (at most once a second per shard)."""
        if self.rollup.due(shard.shard_id):
            self._flush(shard)

    def _flush(self, shard: Shard) -> None:
        with shard.write() as conn:
            self.rollup.write(conn, shard.shard_id)
            fold_tail(conn)  # keeps the uncounted tail of lone enqueues to about a second's

    def _commit_all(self, open_txs: list[tuple[Shard, Any]], inserted: dict[int, list[tuple[int, int]]]) -> None:
        committed: list[Shard] = []
        for position, (shard, tx) in enumerate(open_txs):
            try:
                tx.__exit__(None, None, None)
            except BaseException as exc:
                for _s, later in open_txs[position + 1 :]:
                    _abort(later, exc)
                for done in committed:
                    self._compensate(done, inserted[done.shard_id])
                raise
            committed.append(shard)

    def _compensate(self, shard: Shard, ranges: list[tuple[int, int]]) -> None:
        """Undo a committed part of a multi-shard batch whose other part failed to commit."""
        with shard.write() as conn:
            conn.executemany(Q.delete_rowid_range, ranges)

    # ── claim ──
    def claim(
        self, worker_id: str, limit: int, lease_s: float, now: float,
        queue: str | None = None, exclude: Collection[str] = (),
    ) -> list[Job]:
        empty = self._empty_hints(queue)
        filled = self._filled
        out: list[Job] = []
        until = now + lease_s
        params: dict[str, Any] = {"worker": worker_id, "now": now, "until": until}
        peek_args: tuple[Any, ...]
        # `sql` leases one job (its own transaction, counted by the trigger), `counted_sql` more
        if queue is not None:
            sql, counted_sql, peek, peek_args = Q.claim_queue_one, Q.claim_queue_counted, Q.peek_queue, (queue, now)
            params["queue"] = queue
        elif exclude:
            sql, counted_sql = claim_excluding(len(exclude)), claim_excluding(len(exclude), counted=True)
            peek, peek_args = Q.peek_ready, (now,)
            params.update({f"x{i}": name for i, name in enumerate(sorted(exclude))})
        else:
            sql, counted_sql, peek, peek_args = Q.claim_one, Q.claim_counted, Q.peek_ready, (now,)
        promote_due = self._promote_due
        lone_at = self._lone_at
        for shard_id in self._visit_order(empty, now):
            shard = self.shards[shard_id]
            hint = empty[shard_id]
            lone = False
            if hint is not None:
                if out and hint[2] == filled[shard_id] and hint[0] <= now < hint[0] + hint[1]:
                    continue  # see _lone_added: found empty moments ago, nothing added here since
                lone = not exclude and _lone_added(hint, filled[shard_id], lone_at[shard_id])
                if not lone and not shard.read_one(peek, peek_args)[0]:
                    # still empty: look again after twice as long
                    empty[shard_id] = (now, min(2 * hint[1], EMPTY_HINT_MAX), filled[shard_id])
                    continue
            want = params["limit"] = limit - len(out)
            due = promote_due[shard_id]
            if lone and hint[0] <= now < hint[0] + EMPTY_HINT_MAX:  # type: ignore[index]
                pass  # see _lone_added: no promotion of its own
            elif not due - 2 * PROMOTE_EVERY <= now < due:  # _promote's own test, without its call
                self._promote(shard, now)
            if want == 1 or lone:
                rows = _claim_one_row(shard, sql, params)
                if rows:
                    out.append(job_from_row(shard_id, rows[0]))
                    if want == 1:
                        empty[shard_id] = None
                    else:  # see _lone_added: its job starts now, the look after it finds more
                        empty[shard_id] = (now, hint[1], hint[2] + 1)  # type: ignore[index]  # empty again
                    break
                empty[shard_id] = (now, EMPTY_HINT_TTL, filled[shard_id])
                continue
            if counted_sql is Q.claim_counted:
                rows = self._claim_guessed(shard, params, now)
            else:
                rows = _claim_rows(shard, counted_sql, params)
            empty[shard_id] = (now, EMPTY_HINT_TTL, filled[shard_id]) if len(rows) < want else None
            out += claimed_jobs(shard_id, rows, worker_id, now, until)
            if len(out) >= limit:
                break
        if len(out) > 1:
            _sort_claimed(out)
        self.rollup.claimed(out)
        return out

    def _claim_guessed(self, shard: Shard, params: dict[str, Any], now: float) -> list[Any]:
        """The all-queues batch claim of `shard`, by the one-queue statement when the shard's
        last one leased a single queue's jobs (the common case: one queue, or one a shard).

        `Q.claim_named_counted` checks the guess in SQL and leases nothing when it is wrong
        (another queue's job arrived, from any process, or the queue ran dry); then this falls
        back to `Q.claim_counted` at once and guesses no more on this shard for GUESS_RETRY
        seconds, so a shard of several queues pays the extra statement at most that often.
        Measured with instr.py claim_ack_1s --n 1000: 153.4k -> 150.3k instructions a job
        (claim_ack, six shards: 153.9k -> 151.5k)."""
        shard_id = shard.shard_id
        name = self._one_name[shard_id]
        if name is not None:
            params["queue"] = name
            rows = _claim_rows(shard, Q.claim_named_counted, params)
            if rows:
                return rows
            self._one_name[shard_id] = None
            self._guess_after[shard_id] = now + GUESS_RETRY
        rows = _claim_rows(shard, Q.claim_counted, params)
        after = self._guess_after[shard_id]
        if rows and not after - GUESS_RETRY <= now < after:  # also after the clock jumped back
            first, last = rows[0][_QUEUE_COLUMN], rows[-1][_QUEUE_COLUMN]
            self._one_name[shard_id] = first if first == last else None
        return rows

    def _visit_order(self, empty: list[Hint | None], now: float) -> list[int]:
        """The shards in random order, in four groups: where this thread found none but has not
        looked for EMPTY_HINT_MAX; where it last found jobs, or found none but this process added
        jobs since; where it found none and its wait ran out; where it found none recently. A
        worker woken by an enqueue thus goes straight to its job's shard, not through looks at
        shards it found empty moments ago, while another process's jobs wait at most
        EMPTY_HINT_MAX for a thread that keeps finding jobs this process adds elsewhere.

        A claim stops at the first shards that fill it, so a busy shard next to empty ones
        serves claims without a look at the empty ones: with one busy shard of six, a
        `pop_job` ran 4.6 statements a job (2.5 of them looks at empty shards), then 2.2 with a
        fixed 5 ms wait, and 2.0 now that the wait doubles while a shard stays empty."""
        # plain loops and random.random: no frame for a comprehension or random.choice (a claim
        # of one job runs this every time)
        orders = self._orders
        order = orders[int(random.random() * len(orders))] if orders else random.sample(range(self._n), self._n)
        if empty.count(None) == len(empty):  # no shard found empty (a busy queue): no walk
            return list(order)
        filled = self._filled
        overdue: list[int] = []
        first: list[int] = []
        expired: list[int] = []
        known_empty: list[int] = []
        for s in order:
            hint = empty[s]
            if hint is None or hint[2] != filled[s]:
                first.append(s)
            elif not hint[0] <= now < hint[0] + EMPTY_HINT_MAX:
                overdue.append(s)
            elif now < hint[0] + hint[1]:
                known_empty.append(s)
            else:
                expired.append(s)
        return overdue + first + expired + known_empty if len(first) < len(order) else first

    def _promote(self, shard: Shard, now: float) -> None:
        """Move the shard's due scheduled jobs into the run order; at most every PROMOTE_EVERY
        seconds per shard and process, so a claim rarely pays a statement for it."""
        due = self._promote_due[shard.shard_id]
        if due - 2 * PROMOTE_EVERY <= now < due:
            return
        self._promote_due[shard.shard_id] = now + PROMOTE_EVERY  # also after the clock jumped back
        # Look before writing: the read takes no lock, while the UPDATE waits for the shard's
        # write lock even when nothing is due, which was 14% of a drain over six busy shards.
        if not shard.read_one(Q.peek_due, (now,))[0]:
            return
        shard.run(Q.promote, (now,))  # a lone statement: its own transaction

    def _empty_hints(self, queue: str | None) -> list[Hint | None]:
        """Per shard, this thread's note that it found it empty, in `queue` or in any (None: it had jobs)."""
        per_queue: dict[str | None, list[Hint | None]] | None = getattr(self._local, "empty", None)
        if per_queue is None:
            per_queue = self._local.empty = {}
        hints = per_queue.get(queue)
        if hints is None:
            if len(per_queue) > 64:  # a worker names few queues; a caller cycling names must not grow this
                per_queue.clear()
            hints = per_queue[queue] = [None] * self._n
        return hints

    # ── acknowledging ──
    def complete_many(self, completions: Sequence[Completion], now: float, result_ttl: float) -> list[Lease]:
        if len(completions) == 1 and result_ttl > 0:
            # one statement is its own atomic write transaction: no BEGIN/COMMIT round trips
            lease, result = completions[0]
            shard = self.shards[lease.shard_id]
            params = {"id": rowid_of(lease.job_id), "token": lease.token, "now": now,
                      "expires": now + result_ttl, "result": result}
            fact = self.rollup.take_one(lease)
            if fact is None:  # claimed by another process: the row tells what the metrics need
                facts = shard.read(Q.complete_returning, params)
            else:
                facts = [fact] if shard.run(Q.complete, params).rowcount else []
            if not facts:
                return [lease]
            rollup = self.rollup
            rollup.attempt(lease.shard_id, facts[0][-4:], "completed", now)  # one lease, one fact
            if rollup.due(lease.shard_id):
                self._flush(shard)
            return []
        lost: list[Lease] = []
        for shard_id, group in _completions_by_shard(completions).items():
            shard = self.shards[shard_id]
            facts, missing = self.rollup.take([lease for lease, _result in group])
            try:
                with shard.write() as conn:
                    fold_tail(conn)  # every row it acks is then counted, and counted here
                    if missing:
                        facts += ack_facts(conn, shard_id, missing)
                    # the facts name each job's queue: the tallies need no look at the rows
                    complete_all(conn, group, now, result_ttl, [fact[-1] for fact in facts])
                    self.rollup.attempts(shard_id, [fact[1:] for fact in facts], "completed", now)
                    self.rollup.write(conn, shard_id)
            except SomeLeaseLost:  # rolled back: find which, one lease at a time
                with shard.write() as conn:
                    lost_here = complete_each(conn, group, now, result_ttl)
                    gone = {lease.job_id for lease in lost_here}
                    self.rollup.attempts(shard_id, [f[1:] for f in facts if f[0] not in gone], "completed", now)
                lost += lost_here
        return lost

    def retry(self, lease: Lease, run_at: float, error: ErrorInfo, now: float) -> None:
        shard = self.shards[lease.shard_id]
        params = _error_params(lease, error, now)
        params["run_at"] = run_at
        with shard.write() as conn:
            facts = self._attempt_facts(conn, lease, params)
            conn.execute(Q.log_error, params)
            if not conn.execute(Q.retry, params).rowcount:
                raise LeaseLost(lease.job_id)
            self._count_failure(conn, lease, facts, error, outcome_of(error, retrying=True), now)
        self._filled[lease.shard_id] += 1

    def bury(self, lease: Lease, error: ErrorInfo, now: float) -> None:
        shard = self.shards[lease.shard_id]
        params = _error_params(lease, error, now)
        params["shard"] = lease.shard_id
        with shard.write() as conn:
            facts = self._attempt_facts(conn, lease, params)
            conn.execute(Q.log_error, params)
            if not conn.execute(Q.bury, params).rowcount:
                raise LeaseLost(lease.job_id)
            self._count_failure(conn, lease, facts, error, outcome_of(error, retrying=False), now)
            conn.execute(Q.to_dead_letter, params)
            conn.execute(Q.add_meta, (1, "total_jobs_failed"))

    def _attempt_facts(self, conn: sqlite3.Connection, lease: Lease, params: dict[str, Any]) -> list[Any]:
        facts, missing = self.rollup.take([lease])
        if missing:
            return conn.execute(Q.attempt_facts, params).fetchall()
        return [fact[1:] for fact in facts]

    def _count_failure(self, conn: sqlite3.Connection, lease: Lease, facts: list[Any], error: ErrorInfo,
                       outcome: str, now: float) -> None:
        self.rollup.attempts(lease.shard_id, facts, outcome, now)
        self.rollup.failures(lease.shard_id, facts, error, now)
        self.rollup.write(conn, lease.shard_id)

    def release(self, leases: Sequence[Lease], now: float, run_at: float | None = None) -> list[Lease]:
        self.rollup.forget(leases)
        for lease in leases:
            self._filled[lease.shard_id] += 1
        if run_at is not None and run_at > now:
            return self._per_lease(leases, Q.release_until, {"run_at": run_at})
        return self._per_lease(leases, Q.release, {})

    def extend(self, leases: Sequence[Lease], until: float) -> list[Lease]:
        return self._per_lease(leases, Q.extend, {"until": until, "now": until})

    def _per_lease(self, leases: Sequence[Lease], sql: str, extra: dict[str, Any]) -> list[Lease]:
        lost: list[Lease] = []
        for shard_id, group in _by_shard(leases, lambda lease: lease.shard_id).items():
            with self.shards[shard_id].write() as conn:
                for lease in group:
                    params = {"id": rowid_of(lease.job_id), "token": lease.token, **extra}
                    if not conn.execute(sql, params).rowcount:
                        lost.append(lease)
        return lost

    def heartbeat(self, worker_id: str, until: float, shard_id: int | None = None) -> int:
        targets = self.shards if shard_id is None else [self.shards[self._check_shard(shard_id)]]
        total = 0
        for shard in targets:
            with shard.write() as conn:
                total += conn.execute(Q.heartbeat, {"until": until, "now": until, "worker": worker_id}).rowcount
        if shard_id in (None, 0):
            self._extend_slots(worker_id, until)  # a running job keeps its concurrency slot
        return total

    def expire_leases(self, worker_id: str, now: float) -> int:
        total = 0
        for shard in self.shards:
            with shard.write() as conn:
                total += conn.execute(Q.expire_leases, {"now": now, "worker": worker_id}).rowcount
        return total

    def requeue_expired(self, now: float, error: ErrorInfo) -> RecoveryReport:
        requeued = buried = 0
        for shard in self.shards:
            if not shard.read_one(Q.peek_expired, {"now": now}):
                continue
            params = {"now": now, "error": error.message, "error_type": error.type, "shard": shard.shard_id}
            with shard.write() as conn:
                record_expired(conn, error, now)
                conn.execute(Q.log_expired, params)
                conn.execute(Q.bury_expired_dlq, params)
                dead = conn.execute(Q.bury_expired, params).rowcount
                if dead:
                    conn.execute(Q.add_meta, (dead, "total_jobs_failed"))
                buried += dead
                requeued += conn.execute(Q.requeue_expired, params).rowcount
        return RecoveryReport(requeued=requeued, buried=buried)

    def cancel(self, job_id: int, now: float) -> bool:
        shard = self.shards[self.shard_of(job_id)]
        with shard.write() as conn:
            return bool(conn.execute(Q.cancel, {"id": rowid_of(job_id), "now": now}).rowcount)

    def request_cancel(self, job_id: int, now: float) -> bool:
        with self.shards[self.shard_of(job_id)].write() as conn:
            return bool(conn.execute(Q.request_cancel, {"id": rowid_of(job_id), "now": now}).rowcount)

    def cancel_requested(self, job_id: int) -> bool:
        return self.shards[self.shard_of(job_id)].read_one(Q.cancel_requested, (rowid_of(job_id),)) is not None

    def cancel_running(self, lease: Lease, now: float) -> None:
        with self.shards[lease.shard_id].write() as conn:
            if not conn.execute(Q.cancel_running, {"id": rowid_of(lease.job_id), "token": lease.token,
                                                   "now": now}).rowcount:
                raise LeaseLost(lease.job_id)

    def set_progress(self, lease: Lease, fraction: float, message: str | None) -> None:
        params = {"id": rowid_of(lease.job_id), "token": lease.token, "fraction": fraction, "message": message}
        with self.shards[lease.shard_id].write() as conn:
            if not conn.execute(Q.set_progress, params).rowcount:
                raise LeaseLost(lease.job_id)

    def progress(self, job_id: int) -> JobProgress | None:
        row = self.shards[self.shard_of(job_id)].read_one(Q.get_progress, (rowid_of(job_id),))
        return None if row is None else JobProgress(row[0], row[1])

    def close(self) -> None:
        try:
            self.flush_metrics()
        except Exception:  # closing must not fail: metrics are best effort, jobs are not affected
            log.warning("could not write the last second of event metrics", exc_info=True)
        for shard in self.shards:
            shard.close()
        self._unmap_flow_token()


def _claim_one_row(shard: Shard, sql: str, params: dict[str, Any]) -> list[Any]:
    """Run a claim of one job on `shard` (`Q.claim_one` or `Q.claim_queue_one`): the row it leased.

    A lone UPDATE ... RETURNING is its own write transaction (SQLite takes the write lock before
    the statement reads: the guarantee of BEGIN IMMEDIATE without two extra round trips), and
    the tallies' trigger counts it."""
    return shard.read(sql, params)


def _lone_added(hint: Hint, filled: int, lone_at: int) -> bool:
    """Whether the one thing this process did to a shard since this thread found it empty (`hint`)
    was a lone enqueue: then a claim of several jobs (a worker's batch, woken by that enqueue)
    leases it with the one-job statement, counted by the trigger or left in the tail a lone
    enqueue starts in, instead of a look and the counted claim's transaction (BEGIN, the fold of
    the tail into the tallies, the claim, its count, COMMIT). A claim that has jobs already also
    passes the shards found empty moments ago with nothing added since (another process's jobs
    there wait at most their hint's wait, as for a one-job claim). instr.py lone --n 1000:
    see docs/benchmarks.md (One-job path cost). A wrong guess (another process added jobs there
    too, or enqueuers raced) leases one job now and the rest at the next claim.

    Such a claim ends with that job, and skips the promotion of due scheduled jobs (a read, and a
    write when some are due) when the look that found the shard empty was at most EMPTY_HINT_MAX
    ago: that look looked for due scheduled jobs too, and the worker's next claim, once this job
    ran, looks at every shard again (promoting what fell due, claiming what other processes
    added), as do idle workers the hub wakes when such a job falls due. Both were statements
    between a woken worker and its job's start: `python benchmarks/instr.py --statements --n 1000
    lone lone_4w`, 2.8 -> 2.1 and 2.7 -> 2.2 statements from the enqueue call to the handler's
    start (the INSERT and this claim are 2), with the visit order of `_visit_order`."""
    return filled == hint[2] + 1 == lone_at


def _claim_rows(shard: Shard, sql: str, params: dict[str, Any]) -> list[Any]:
    """Run a claim statement of more than one job on `shard`: the rows it leased. It counts its
    rows itself, one statement per queue in the same transaction, instead of a trigger run per
    row (see TALLIES_SCHEMA)."""
    try:
        with shard.write() as conn:
            fold_tail(conn)  # every row it claims is then counted, and counted here
            rows = conn.execute(sql, params).fetchall()
            if rows:
                tally_claimed(conn, rows)
            return rows
    except sqlite3.Error as exc:
        raise translate(exc, shard.name) from exc


_RUN_ORDER = operator.attrgetter("run_ts", "id")
_PRIORITY = operator.attrgetter("priority_int")


def _sort_claimed(jobs: list[Job]) -> None:
    """Put claimed jobs in run order (priority descending, then due time, then id).

    Two stable sorts keyed in C (the second's `reverse` keeps equal priorities in the first's
    order) instead of a Python key function called a job: 32 jobs sort in ~3.1 us instead of
    ~4.0 us (timeit); see `_claims.Claims.forget_all` for the claim + ack total."""
    jobs.sort(key=_RUN_ORDER)
    jobs.sort(key=_PRIORITY, reverse=True)


def _task_counts(payloads: Sequence[dict[str, Any]], array: str) -> dict[tuple[str, str], int]:
    """How many of a bulk batch's `payloads` (default queue; `array`, their JSON text) name each
    task, for the metrics rollup: none when the text never spells the key (one substring search),
    else counted in C (`Counter` over `dict.get`), not by a generator step, a task lookup and a
    key tuple a job in Python. /tmp/gil/api.sh TREE enqueue_batch 2000 (callgrind): 24.2k ->
    21.1k instructions a job with the Counter, 20.5k with the search."""
    if '"__task__"' not in array:
        return {("default", ""): len(payloads)}
    try:
        found = Counter(map(dict.get, payloads, repeat("__task__")))
    except TypeError:  # an unhashable `__task__` (a list, an object): not a task name
        found = Counter(map(task_of_payload, payloads))
    counts: dict[tuple[str, str], int] = {}
    for task, count in found.items():
        key = ("default", task if isinstance(task, str) else "")
        counts[key] = counts.get(key, 0) + count
    return counts


def _orders(n: int) -> list[tuple[int, ...]]:
    return list(itertools.permutations(range(n))) if n <= 6 else []


def _completions_by_shard(completions: Sequence[Completion]) -> dict[int, list[Completion]]:
    """`_by_shard` of a grouped ack's completions, the shard read off each lease in the loop
    instead of by a key function called a job."""
    groups: dict[int, list[Completion]] = {}
    for completion in completions:
        shard_id = completion[0][1]  # Lease.shard_id
        group = groups.get(shard_id)
        if group is None:
            groups[shard_id] = [completion]
        else:
            group.append(completion)
    return groups


def _by_shard(items: Iterable[Any], key: Any) -> dict[int, list[Any]]:
    groups: dict[int, list[Any]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _error_params(lease: Lease, error: ErrorInfo, now: float) -> dict[str, Any]:
    return {"id": rowid_of(lease.job_id), "token": lease.token, "now": now,
            "error": _text(error.message), "error_type": _text(error.type), "stack": _text(error.traceback)}


def _text(value: str | None) -> str | None:
    """Error text SQLite can store: lone surrogates (from undecodable file names, say) escaped."""
    if value is None or value.isascii():
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _abort(tx: Any, exc: BaseException) -> None:
    try:
        tx.__exit__(type(exc), exc, exc.__traceback__)
    except BaseException:
        pass


