"""The ShardManager's host-wide flow-control verbs (a mixin): state lives in shard 0's file."""

from __future__ import annotations

import math
import mmap
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ...models import BreakerView, FlowState
from ..flowmath import CLOSED, blocks_from_rows, breaker_after, gate, refill
from ._flow_sql import F

if TYPE_CHECKING:
    from .shard import Shard

__all__ = ["FLOW_TOKEN_FILE", "FlowControl"]

_CLOSED = CLOSED
_CAS_TRIES = 5
# Beside the shard files: 8 bytes that every write to the paused queues or the breakers
# replaces with a random value, mapped into each process's memory. Claims and acks cache the
# one read of that state (`claim_blocks`) and look at these bytes instead of running a
# statement: a change anywhere on the host is seen by the next claim, at the price of no
# system call. (A statement for a version row would have doubled the per-job statements.)
FLOW_TOKEN_FILE = ".queue-max.flow"
# Where the token file cannot be mapped (a read-only directory that lacks it), the token moves
# this often, so the state is re-read at most that often.
_POLL_TOKEN = 0.05
_TOKEN_LOCK = threading.Lock()


class FlowControl:
    """Token buckets, circuit breakers, concurrency slots and paused queues; see storage.base."""

    shards: list[Shard]
    data_dir: Path

    # ── the change token of paused queues and breakers ──
    def flow_token(self) -> object:
        mapped = self._flow_mapped()
        if mapped is not None:
            try:
                return mapped[:8]
            except ValueError:  # unmapped by `_unmap_flow_token` (the queue is closing)
                pass
        return ("poll", int(time.monotonic() / _POLL_TOKEN))

    def _flow_changed(self) -> None:
        """Tell every process of the host that paused queues or breakers changed (after the commit)."""
        mapped = self._flow_mapped()
        if mapped is not None and self.__dict__["_flow_token"][1]:
            try:
                mapped[:8] = os.urandom(8)
            except ValueError:  # unmapped since the commit (the queue is closing): the others must still see it
                again, writable = _map_token(self.data_dir / FLOW_TOKEN_FILE)
                if again is not None:
                    if writable:
                        again[:8] = os.urandom(8)
                    again.close()

    def _unmap_flow_token(self) -> None:
        """Release the token file at close (the mapping holds a descriptor of it). The closed
        mapping stays in place: a late reader polls, a late change maps the file once more."""
        with _TOKEN_LOCK:
            found = self.__dict__.get("_flow_token")
        if found is not None and found[0] is not None:
            found[0].close()

    def _flow_mapped(self) -> mmap.mmap | None:
        found: tuple[mmap.mmap | None, bool] | None = self.__dict__.get("_flow_token")
        if found is None:
            with _TOKEN_LOCK:  # mapped once per manager, on first use
                found = self.__dict__.get("_flow_token")
                if found is None:
                    found = self.__dict__["_flow_token"] = _map_token(self.data_dir / FLOW_TOKEN_FILE)
        return found[0]

    # ── rate limits ──
    def take_tokens(self, bucket: str, want: int, rate: float, burst: float, now: float) -> int:
        with self.shards[0].write() as conn:
            row = conn.execute(F.bucket_get, (bucket,)).fetchone()
            tokens = burst if row is None else refill(row[0], row[1], rate, burst, now)
            # epoch floats near 1.8e9 resolve ~2e-7 s: a token due "now" may read as 0.99999
            granted = max(0, min(want, math.floor(tokens + 1e-4)))
            stamp = now if row is None else max(row[1], now)
            conn.execute(F.bucket_put, (bucket, tokens - granted, stamp))
        return granted

    def return_tokens(self, bucket: str, count: int, burst: float, now: float) -> None:
        if count <= 0:
            return
        with self.shards[0].write() as conn:
            row = conn.execute(F.bucket_get, (bucket,)).fetchone()
            if row is not None:
                conn.execute(F.bucket_put, (bucket, min(burst, row[0] + count), row[1]))

    # ── circuit breakers ──
    def breaker_gate(self, scope: str, recovery_s: float, trial_s: float, now: float) -> str:
        shard = self.shards[0]
        row = shard.read_one(F.breaker_get, (scope,))
        if row is None or row[0] == "closed":
            return "closed"
        with shard.write() as conn:
            row = conn.execute(F.breaker_get, (scope,)).fetchone()
            view = _CLOSED if row is None else BreakerView(*row)
            answer = gate(view, recovery_s, now)
            if answer == "trial":
                conn.execute(F.breaker_put, (scope, "half_open", view.failures, view.opened_at, now + trial_s))
        if answer == "trial":
            self._flow_changed()
        return answer

    def breaker_record(self, scope: str, outcome: str, threshold: int, now: float) -> tuple[str, str] | None:
        shard = self.shards[0]
        # One short statement that applies only if the row is still what was read: a process
        # stopped here never holds the write lock for long. Lost races re-read and try again.
        for _ in range(_CAS_TRIES):
            row = shard.read_one(F.breaker_get, (scope,))
            view = _CLOSED if row is None else BreakerView(*row)
            after = breaker_after(view, outcome, threshold, now)
            if after == view:
                return None  # the common case (a success on a closed breaker) is a read, never a write
            if row is None:
                changed = shard.run(F.breaker_insert, (scope, *after)).rowcount
            else:
                changed = shard.run(F.breaker_cas, (*after, scope, *view)).rowcount
            if changed:
                self._flow_changed()
                return (view.state, after.state) if after.state != view.state else None
        return self._breaker_record_locked(scope, outcome, threshold, now)

    def _breaker_record_locked(self, scope: str, outcome: str, threshold: int, now: float) -> tuple[str, str] | None:
        with self.shards[0].write() as conn:
            row = conn.execute(F.breaker_get, (scope,)).fetchone()
            view = _CLOSED if row is None else BreakerView(*row)
            after = breaker_after(view, outcome, threshold, now)
            if after != view:
                conn.execute(F.breaker_put, (scope, *after))
        if after != view:
            self._flow_changed()
        return (view.state, after.state) if after.state != view.state else None

    # ── concurrency slots ──
    def take_slots(self, scope: str, count: int, limit: int, holder: str, until: float, now: float) -> list[int]:
        with self.shards[0].write() as conn:
            conn.execute(F.slots_expire, (scope, now))
            live = conn.execute(F.slots_live, (scope, now)).fetchone()[0]
            granted = max(0, min(count, limit - live))
            return [int(conn.execute(F.slot_take, (scope, holder, until)).lastrowid or 0) for _ in range(granted)]

    def free_slots(self, slot_ids: Sequence[int]) -> None:
        if slot_ids:
            with self.shards[0].write() as conn:
                conn.executemany(F.slot_free, [(slot_id,) for slot_id in slot_ids])

    def extend_slots(self, slot_ids: Sequence[int], until: float) -> None:
        if slot_ids:
            with self.shards[0].write() as conn:
                conn.executemany(F.slot_extend, [(until, slot_id) for slot_id in slot_ids])

    def _extend_slots(self, holder: str, until: float) -> None:
        shard = self.shards[0]
        if shard.read_one(F.slots_any, (holder,))[0]:
            with shard.write() as conn:
                conn.execute(F.slots_extend, (until, holder))

    # ── pausing ──
    def set_paused(self, queue_name: str, paused: bool, now: float) -> bool:
        with self.shards[0].write() as conn:
            if paused:
                changed = bool(conn.execute(F.pause, (queue_name, now)).rowcount)
            else:
                changed = bool(conn.execute(F.resume, (queue_name,)).rowcount)
        if changed:
            self._flow_changed()
        return changed

    # ── reading ──
    def claim_blocks(self) -> tuple[frozenset[str], dict[str, BreakerView]]:
        return blocks_from_rows(self.shards[0].read(F.blocks))

    def flow_state(self, now: float) -> FlowState:
        shard = self.shards[0]
        return FlowState(
            paused=frozenset(row[0] for row in shard.read(F.paused)),
            breakers={row[0]: BreakerView(*row[1:]) for row in shard.read(F.breakers)},
            tokens={row[0]: (row[1], row[2]) for row in shard.read(F.buckets)},
            slots=dict(shard.read(F.slots_count, (now,))),
        )


def _map_token(path: Path) -> tuple[mmap.mmap | None, bool]:
    """The token file mapped shared (created if need be), and whether it is writable; (None,
    False) where it can be neither created nor read."""
    for flags, access, writable in ((os.O_RDWR | os.O_CREAT, mmap.ACCESS_WRITE, True),
                                    (os.O_RDONLY, mmap.ACCESS_READ, False)):
        try:
            fd = os.open(path, flags, 0o600)
        except OSError:
            continue
        try:
            if writable and os.fstat(fd).st_size < 8:
                os.ftruncate(fd, 8)  # zeros: a fresh token, as good as any other
            return mmap.mmap(fd, 8, access=access), writable
        except (OSError, ValueError):
            continue
        finally:
            os.close(fd)  # the mapping outlives the descriptor
    return None, False
