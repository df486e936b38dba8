"""Importing what a worker runs: a `module:function` handler and task modules, with one-line errors.

Every failure is a `ConfigError` (a `ValueError`) that names the flag or option and the module."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from .errors import ConfigError

__all__ = ["import_module", "import_tasks", "load_function"]


def _cwd_on_path() -> None:
    # `python -m` puts the current directory on sys.path; a console script does not
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def import_module(name: str, flag: str) -> ModuleType:
    """Import `name` for `flag` (e.g. "--tasks app.tasks"); failures become a `ConfigError`."""
    _cwd_on_path()
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (name == missing or name.startswith(missing + ".")):
            raise ConfigError(f"{flag}: no module named {missing!r} (looked in the current directory "
                             "and PYTHONPATH)") from exc
        raise ConfigError(f"{flag}: importing {name!r} failed: {exc}") from exc
    except SyntaxError as exc:
        raise ConfigError(f"{flag}: importing {name!r} failed: SyntaxError: {exc.msg} "
                         f"({exc.filename}, line {exc.lineno})") from exc
    except (Exception, SystemExit) as exc:  # a module may sys.exit() at import
        raise ConfigError(f"{flag}: importing {name!r} failed: {type(exc).__name__}: {exc}") from exc


def load_function(spec: str, flag: str = "--function") -> Callable[[dict[str, Any]], Any]:
    """The callable named by `module:function` (or `module:Class.method`)."""
    if not isinstance(spec, str):
        raise ConfigError(f"{flag} must be a 'package.module:function' string, got {spec!r}")
    where = flag
    flag = f"{flag} {spec}"
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr or ":" in attr:
        raise ConfigError(f"{where} must look like 'package.module:function', got {spec!r}")
    obj: Any = import_module(module_name, flag)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"{flag}: module {module_name!r} has no attribute {attr!r}") from None
        except Exception as exc:
            raise ConfigError(f"{flag}: looking up {attr!r} in {module_name!r} failed: "
                             f"{type(exc).__name__}: {exc}") from exc
    if not callable(obj):
        raise ConfigError(f"{flag}: {attr!r} is not callable (it is a {type(obj).__name__})")
    return obj  # type: ignore[no-any-return]


def import_tasks(modules: Sequence[str]) -> list[str]:
    """Import task modules (their `@task` functions register themselves); the registered names."""
    from .tasks import registry

    for name in modules:
        import_module(name, f"--tasks {name}")
    return registry.names()
