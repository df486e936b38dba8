#!/usr/bin/env python
"""The example's manage.py: `python manage.py queue_worker`, `queue_stats`, `queue_purge`, `check`."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    try:
        import queue_max  # noqa: F401
    except ImportError:  # running from a checkout without `pip install -e .`
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
