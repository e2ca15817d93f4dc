"""``python -m practicaltorch``: the same command line as ``practicaltorch``."""

import sys

from practicaltorch.cli import main

sys.exit(main())
