"""The one JSON encoding queue-max stores: compact, ASCII-only, no NaN; a reused C encoder."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["dumps", "loads"]

loads = json.loads

_fallback = json.JSONEncoder(
    ensure_ascii=True, allow_nan=False, separators=(",", ":"), check_circular=False
).encode

try:
    from json.encoder import c_make_encoder as _c_make_encoder  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - pure-Python json
    _c_make_encoder = None

if _c_make_encoder is not None:
    # JSONEncoder.encode builds a new C encoder on every call; this one is built once.
    # ensure_ascii keeps lone surrogates storable (as \\udxxx escapes) and makes len() the
    # byte size. Callers check values first, so no `default` hook is needed.
    _c_encoder = _c_make_encoder(
        None, None, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, False
    )

    def dumps(value: Any) -> str:
        """JSON text of an already-validated value."""
        return "".join(_c_encoder(value, 0))

else:  # pragma: no cover
    dumps = _fallback  # type: ignore[assignment]
