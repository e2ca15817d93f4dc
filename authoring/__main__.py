"""``python -m authoring``: the course's authoring commands."""

import sys

from authoring.cli import main

sys.exit(main())
