"""Load a data spec and print a summary (exit 2 on bad data): a quick data check.

Example::

    python -m sftlens.data entityquestions:../shared/data/entityquestions --skip-invalid
"""

from __future__ import annotations

import argparse
import logging
import sys

from sftlens.data.loading import load_dataset
from sftlens.errors import SftlensError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sftlens.data", description=__doc__.splitlines()[0])
    p.add_argument("spec", help="entityquestions:DIR | world:DIR | jsonl:PATH")
    p.add_argument("--split-preset", default="paper-2025", help="paper-2025 | slick-2024")
    p.add_argument("--templates", help="YAML file overriding relation templates")
    p.add_argument(
        "--aliases",
        action="append",
        default=[],
        help="alias table name (paper-2025, builtin-extended) or file (repeatable)",
    )
    p.add_argument("--skip-invalid", action="store_true", help="skip and count bad records")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(message)s", stream=sys.stderr)
    try:
        ds = load_dataset(
            args.spec, args.split_preset, args.templates, args.aliases, args.skip_invalid
        )
    except SftlensError as err:
        print(f"sftlens: error: {err}", file=sys.stderr)
        return 2
    print(ds.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
