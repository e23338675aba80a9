"""``python -m optcheck ...`` is the ``optcheck`` command."""

import sys

from optcheck.suites.cli import main

sys.exit(main())
