"""`delegate`: a Queue method that is a method of one of the Queue's parts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

__all__ = ["delegate"]

P = ParamSpec("P")
R = TypeVar("R")
Part = TypeVar("Part")


class delegate(Generic[Part, P, R]):  # noqa: N801 - used like a decorator-made method
    """`get_job = delegate("_inspection", Inspection.get_job)` in a class body makes
    `queue.get_job` the bound `queue._inspection.get_job`: same name, signature, docstring and
    types (mypy sees them), and no extra call at run time (the bound method is cached on the
    instance). `Queue.get_job` is the part's function, so `inspect.signature` reads it."""

    def __init__(self, part: str, method: Callable[Concatenate[Part, P], R]) -> None:
        self.part = part
        self.method = method
        self.name = method.__name__
        self.__doc__ = method.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Callable[Concatenate[Part, P], R]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[P, R]: ...

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self.method
        bound = self.method.__get__(getattr(obj, self.part))
        if _resolves_to(type(obj), self.name, self):
            obj.__dict__[self.name] = bound  # later lookups find it on the instance directly
        # else a subclass overrides the name and reached here through super(): caching would hide
        # its override from every later call
        return bound


def _resolves_to(cls: type, name: str, attribute: object) -> bool:
    """Whether `cls.<name>` is `attribute` itself (not an override in a subclass)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name] is attribute
    return False
