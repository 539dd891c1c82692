import sys

from rsmodel.cli import main

sys.exit(main())
