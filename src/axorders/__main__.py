"""``python -m axorders``: the ``axorders`` console script."""

from axorders.cli import main

raise SystemExit(main())
