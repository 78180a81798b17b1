"""Allow ``python -m sftlens``."""

from sftlens.cli import main

raise SystemExit(main())
