"""The two interpreters a benchmark compares: ours (this checkout's src/) and the reference venv.

The reference is queue-max 0.1.1 from PyPI, installed once into ``<repo>/.bench/ref-venv``
(gitignored) and reused while its marker file says the same version.  Our side needs no install:
it runs the current interpreter with ``<repo>/src`` first on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PEER_SPECS", "REFERENCE_SPEC", "REPO_ROOT", "RefEnvError", "Side", "ours", "peer", "reference"]

REFERENCE_SPEC = "queue-max==0.1.1"
# The embedded peers of peers.py, each in a venv of its own (.bench/venv-<name>), pinned.
PEER_SPECS = {"huey": "huey==3.5.4", "localqueue": "localqueue==1.4.1"}
REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_DIR = REPO_ROOT / ".bench" / "ref-venv"
_MARKER = VENV_DIR / ".installed"


class RefEnvError(RuntimeError):
    """The reference virtualenv could not be created or the package not installed."""


@dataclass(frozen=True)
class Side:
    """One implementation under test: a name, an interpreter and the environment to run it in."""

    name: str
    python: str
    env: dict[str, str]


def _clean_env() -> dict[str, str]:
    # Settings such as RATE_LIMIT_MAX or DATA_DIR in the caller's shell must not leak into a run.
    blocked = {"PYTHONPATH", "DATA_DIR", "NUM_SHARDS", "RATE_LIMIT_MAX", "QUEUE_MAX_RETRIES"}
    env = {k: v for k, v in os.environ.items() if k not in blocked}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("QUEUE_MAX_LOG_LEVEL", "ERROR")
    return env


def ours() -> Side:
    """Our implementation: this interpreter with the checkout's ``src`` on the path."""
    env = _clean_env()
    env["PYTHONPATH"] = str(REPO_ROOT / "src")
    return Side("ours", sys.executable, env)


def _venv_python() -> Path:
    return VENV_DIR / "bin" / "python"


def _install() -> None:
    if not _venv_python().exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV_DIR)
    cmd = [str(_venv_python()), "-m", "pip", "install", "--quiet", REFERENCE_SPEC]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RefEnvError(f"pip install {REFERENCE_SPEC} failed:\n{done.stderr.strip()[-2000:]}")
    _MARKER.write_text(REFERENCE_SPEC + "\n")


def _install_into(venv_dir: Path, spec: str) -> Path:
    """A venv at `venv_dir` with `spec` installed (once: a marker file remembers the spec)."""
    python, marker = venv_dir / "bin" / "python", venv_dir / ".installed"
    if python.exists() and marker.exists() and marker.read_text().strip() == spec:
        return python
    print(f"[bench] installing {spec} into {venv_dir} ...", file=sys.stderr)
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", spec],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RefEnvError(f"pip install {spec} failed:\n{done.stderr.strip()[-2000:]}")
    marker.write_text(spec + "\n")
    return python


def peer(name: str) -> Side:
    """A peer library (see PEER_SPECS) in its cached venv; no PYTHONPATH, so nothing of ours."""
    python = _install_into(REPO_ROOT / ".bench" / f"venv-{name}", PEER_SPECS[name])
    return Side(name, str(python), _clean_env())


def reference() -> Side:
    """The reference package in its cached venv, created and installed on first use."""
    installed = _MARKER.read_text().strip() if _MARKER.exists() else ""
    if installed != REFERENCE_SPEC or not _venv_python().exists():
        print(f"[bench] installing {REFERENCE_SPEC} into {VENV_DIR} ...", file=sys.stderr)
        _install()
    # The venv's site-packages must win: no PYTHONPATH, and the cwd is not the repo's src/.
    return Side("reference", str(_venv_python()), _clean_env())


if __name__ == "__main__":
    side = reference()
    print(side.python)
