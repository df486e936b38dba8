"""The SQLite statements' text: what every supported Python accepts without a warning."""

from __future__ import annotations

import re

from queue_max.storage.sqlite._sql import Q


def statements() -> dict[str, str]:
    return {name: value for name, value in vars(Q).items() if isinstance(value, str) and not name.startswith("_")}


def test_no_statement_uses_numbered_placeholders():
    # Python 3.12.0-3.12.3 take `?1` for a named placeholder and warn (an error under our
    # warning filter) when it is bound from a sequence, as every statement of ours is
    numbered = {name: sql for name, sql in statements().items() if re.search(r"\?\d", sql)}
    assert statements() and not numbered
