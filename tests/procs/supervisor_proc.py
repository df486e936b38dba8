"""A supervisor in its own process (signals need the main thread): `supervisor_proc.py CONFIG_JSON`.

CONFIG: Supervisor keyword arguments, plus `ready` (a file touched once the children are up).
Exits with the supervisor's exit code.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent / "src"), str(HERE)]

from queue_max.workers import Supervisor


def main(config: dict) -> int:
    ready = Path(config.pop("ready"))
    supervisor = Supervisor(**config)

    def announce() -> None:
        while not all(child["ready"] for child in supervisor.get_stats()["children"]):
            time.sleep(0.02)
        ready.touch()

    threading.Thread(target=announce, daemon=True).start()
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
