"""`python -m queue_max`: the same as the `queue-max` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
