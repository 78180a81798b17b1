"""Allow ``python -m sftlens``, the same CLI as the ``sftlens`` command.

Example::

    python -m sftlens study configs/demo-tiny.yaml --out runs/demo-study world=runs/world-tiny
"""

from sftlens.cli import main

raise SystemExit(main())
