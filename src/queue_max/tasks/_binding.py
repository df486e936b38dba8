"""Checking a call's arguments against a task function's signature, before it is enqueued or run."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["ArgumentCheck"]

_PLAIN = inspect.Parameter.POSITIONAL_OR_KEYWORD


class ArgumentCheck:
    """Why arguments do not fit a function, or None; built once per task, on first use."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self._signature: inspect.Signature | None = None
        self._names: tuple[str, ...] | None = None  # set when every parameter is plain
        self._required = 0
        self._loaded = False
        # from `least` to `most` positional arguments certainly bind when no keyword argument is
        # given: none until the signature is loaded (the first check), nor for any but plain
        # parameters. Two ints, so that the test is two int comparisons (a `range`'s `in` costs
        # a subtraction and a modulo more: ~0.6k instructions)
        self.least, self.most = 1, 0

    def _load(self) -> None:
        try:
            sig = inspect.signature(self.fn)
        except (TypeError, ValueError):
            sig = None  # a callable without a signature: the call itself will tell
        self._signature = sig
        params = list(sig.parameters.values()) if sig is not None else []
        if sig is not None and all(p.kind is _PLAIN for p in params):
            self._names = tuple(p.name for p in params)
            self._required = sum(1 for p in params if p.default is p.empty)
            self.least, self.most = self._required, len(self._names)
        self._loaded = True

    def positional_counts(self) -> tuple[int, int]:
        """(`least`, `most`), with the signature loaded."""
        if not self._loaded:
            self._load()
        return self.least, self.most

    def problem(self, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> str | None:
        """Why `fn(*args, **kwargs)` would not bind, or None if it would."""
        if not self._loaded:
            self._load()
        if self._names is not None and _fits_plain(self._names, self._required, args, kwargs):
            return None
        sig = self._signature
        if sig is None:
            return None
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            bare = sig.replace(parameters=[p.replace(annotation=p.empty) for p in sig.parameters.values()],
                               return_annotation=sig.empty)
            return f"arguments do not match {getattr(self.fn, '__name__', 'the task')}{bare}: {exc}"
        return None


def _fits_plain(names: tuple[str, ...], required: int, args: tuple[Any, ...] | list[Any],
                kwargs: dict[str, Any]) -> bool:
    """Whether a call certainly binds to a signature of plain parameters (no *args, **kwargs,
    keyword-only or positional-only ones); False means "ask `Signature.bind`".

    The speed trick of argument checking: `Signature.bind` costs about 2.4 µs a call (timeit,
    dev machine; a tenth of a `.delay()`, and it ran twice per task job: at enqueue and before
    running), this about 0.2 µs."""
    given = len(args)
    if given > len(names):
        return False
    if kwargs:
        rest = names[given:]
        if any(key not in rest for key in kwargs):
            return False
        return all(name in kwargs for name in names[given:required])
    return given >= required
