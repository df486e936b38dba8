"""The PostgreSQL backend's flow-control verbs (a mixin): buckets, breakers, slots and paused
queues in the schema's flow_* tables, so every process on every host shares them."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import psycopg

from ...models import BreakerView, FlowState
from ..flowmath import blocks_from_rows, breaker_after, gate, refill
from ._sql import Statements

__all__ = ["FlowControl"]


class FlowControl:
    """See contract point 9 in `storage.base`; the arithmetic is `storage.flowmath`'s."""

    q: Statements
    schema: str
    channel: str
    listener: Any  # a Listener or a Poller (see _listen)
    # this process's own writes to paused queues and breakers, seen before their NOTIFY arrives
    _flow_commits = 0

    def conn(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError

    def tx(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        raise NotImplementedError

    # ── the change token of paused queues and breakers ──
    def flow_token(self) -> object:
        """Moves when this process writes that state or a NOTIFY 'flow' arrives (every writer
        sends one in its transaction); while LISTEN is down or off, it moves on every poll tick."""
        return (self._flow_commits, self.listener.flow_token())

    def _flow_written(self, conn: psycopg.Connection[Any]) -> None:
        """In the writing transaction: every listener learns of the change when it commits."""
        conn.execute(self.q.notify_flow, (self.channel,))

    # ── rate limits ──
    def take_tokens(self, bucket: str, want: int, rate: float, burst: float, now: float) -> int:
        with self.tx() as conn:
            conn.execute(self.q.bucket_init, (bucket, burst, now))
            tokens, stamp = conn.execute(self.q.bucket_lock, (bucket,)).fetchone()  # type: ignore[misc]
            current = refill(tokens, stamp, rate, burst, now)
            # epoch floats resolve ~2e-7 s: a token due "now" may read as 0.99999
            granted = max(0, min(want, math.floor(current + 1e-4)))
            conn.execute(self.q.bucket_set, (current - granted, max(stamp, now), bucket))
        return granted

    def return_tokens(self, bucket: str, count: int, burst: float, now: float) -> None:
        if count <= 0:
            return
        with self.tx() as conn:
            row = conn.execute(self.q.bucket_lock, (bucket,)).fetchone()
            if row is not None:
                conn.execute(self.q.bucket_set, (min(burst, row[0] + count), row[1], bucket))

    # ── circuit breakers ──
    def breaker_gate(self, scope: str, recovery_s: float, trial_s: float, now: float) -> str:
        with self.conn() as conn:
            row = conn.execute(self.q.breaker_get, (scope,)).fetchone()
        if row is None or row[0] == "closed":
            return "closed"
        with self.tx() as conn:
            view = BreakerView(*conn.execute(self.q.breaker_lock, (scope,)).fetchone())  # type: ignore[misc]
            answer = gate(view, recovery_s, now)
            if answer == "trial":
                conn.execute(self.q.breaker_set, ("half_open", view.failures, view.opened_at, now + trial_s, scope))
                self._flow_written(conn)
        if answer == "trial":
            self._flow_commits += 1
        return answer

    def breaker_record(self, scope: str, outcome: str, threshold: int, now: float) -> tuple[str, str] | None:
        if outcome == "success":
            with self.conn() as conn:
                row = conn.execute(self.q.breaker_get, (scope,)).fetchone()
            if row is None or (row[0] == "closed" and row[1] == 0):
                return None  # the common case is a read, never a write
        with self.tx() as conn:
            conn.execute(self.q.breaker_init, (scope,))
            view = BreakerView(*conn.execute(self.q.breaker_lock, (scope,)).fetchone())  # type: ignore[misc]
            after = breaker_after(view, outcome, threshold, now)
            if after != view:
                conn.execute(self.q.breaker_set, (*after, scope))
                self._flow_written(conn)
        if after != view:
            self._flow_commits += 1
        return (view.state, after.state) if after.state != view.state else None

    # ── concurrency slots ──
    def take_slots(self, scope: str, count: int, limit: int, holder: str, until: float, now: float) -> list[int]:
        with self.tx() as conn:
            conn.execute(self.q.slots_lock, (f"queue_max:slots:{self.schema}:{scope}",))
            conn.execute(self.q.slots_expire, (scope, now))
            live = conn.execute(self.q.slots_live, (scope, now)).fetchone()[0]  # type: ignore[index]
            granted = max(0, min(count, limit - live))
            if not granted:
                return []
            return [row[0] for row in conn.execute(self.q.slots_take, (scope, holder, until, granted)).fetchall()]

    def free_slots(self, slot_ids: Sequence[int]) -> None:
        if slot_ids:
            with self.conn() as conn:
                conn.execute(self.q.slots_free, (list(slot_ids),))

    def extend_slots(self, slot_ids: Sequence[int], until: float) -> None:
        if slot_ids:
            with self.conn() as conn:
                conn.execute(self.q.slots_extend_ids, (until, list(slot_ids)))

    def _extend_slots(self, holder: str, until: float) -> None:
        with self.conn() as conn:
            conn.execute(self.q.slots_extend, (until, holder))

    # ── pausing ──
    def set_paused(self, queue_name: str, paused: bool, now: float) -> bool:
        with self.tx() as conn:
            if paused:
                changed = bool(conn.execute(self.q.pause, (queue_name, now)).rowcount)
            else:
                changed = bool(conn.execute(self.q.resume, (queue_name,)).rowcount)
            if changed:
                self._flow_written(conn)
        if changed:
            self._flow_commits += 1
        return changed

    # ── reading ──
    def claim_blocks(self) -> tuple[frozenset[str], dict[str, BreakerView]]:
        with self.conn() as conn:
            return blocks_from_rows(conn.execute(self.q.blocks).fetchall())

    def flow_state(self, now: float) -> FlowState:
        with self.conn() as conn:
            paused = frozenset(row[0] for row in conn.execute(self.q.paused).fetchall())
            breakers = {row[0]: BreakerView(*row[1:]) for row in conn.execute(self.q.breakers).fetchall()}
            tokens = {row[0]: (row[1], row[2]) for row in conn.execute(self.q.buckets).fetchall()}
            slots = {row[0]: int(row[1]) for row in conn.execute(self.q.slots_count, (now,)).fetchall()}
        return FlowState(paused=paused, breakers=breakers, tokens=tokens, slots=slots)

