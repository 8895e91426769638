"""``python -m regretless``: the ``regretless`` command line (see :mod:`regretless.cli`)."""

import sys

from regretless.cli import main

if __name__ == "__main__":
    sys.exit(main())
