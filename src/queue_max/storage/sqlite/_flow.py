"""The ShardManager's host-wide flow-control verbs (a mixin): state lives in shard 0's file."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...models import BreakerView, FlowState
from ..flowmath import CLOSED, blocks_from_rows, breaker_after, gate, refill
from ._errors import translate
from ._flow_sql import F

if TYPE_CHECKING:
    from .shard import Shard

__all__ = ["FlowControl"]

_CLOSED = CLOSED
_CAS_TRIES = 5


class FlowControl:
    """Token buckets, circuit breakers, concurrency slots and paused queues; see storage.base."""

    shards: list[Shard]

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
            try:
                if row is None:
                    changed = shard.conn().execute(F.breaker_insert, (scope, *after)).rowcount
                else:
                    changed = shard.conn().execute(F.breaker_cas, (*after, scope, *view)).rowcount
            except sqlite3.Error as exc:
                raise translate(exc, shard.name) from exc
            if changed:
                return (view.state, after.state) if after.state != view.state else None
        return self._breaker_record_locked(scope, outcome, threshold, now)

    def _breaker_record_locked(self, scope: str, outcome: str, threshold: int, now: float) -> tuple[str, str] | None:
        with self.shards[0].write() as conn:
            row = conn.execute(F.breaker_get, (scope,)).fetchone()
            view = _CLOSED if row is None else BreakerView(*row)
            after = breaker_after(view, outcome, threshold, now)
            if after != view:
                conn.execute(F.breaker_put, (scope, *after))
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
                return bool(conn.execute(F.pause, (queue_name, now)).rowcount)
            return bool(conn.execute(F.resume, (queue_name,)).rowcount)

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
