"""``python -m axorders.sim``."""

import sys

from axorders.sim.cli import main

sys.exit(main())
