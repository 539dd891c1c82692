"""``python -m rsmodel``: the ``rsmodel`` command."""

import sys

from rsmodel.cli import main

sys.exit(main())
