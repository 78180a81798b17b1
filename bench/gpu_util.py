"""Mean GPU utilisation over a study's grid, from a sampled ``util.csv`` and the run's units.

``util.csv`` rows are ``unix_time,gpu_index,util_percent,memory_mib`` (one row per GPU per
sample, as ``bench/world_gpu_scaling.sh`` writes them).  The grid window runs from the first
cell unit's ``started`` to the last cell unit's ``finished``, read from the run's ``unit.json``
files (``bench/study_units.py`` reads and classifies them).  Prints the mean utilisation per
GPU inside the window and the cells per minute.

Example::

    python bench/gpu_util.py /tmp/ws/util.csv /tmp/ws/study2 --gpus 0,1 --json util2.json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

from sftlens.study.graph import unit_kind
from study_units import read_units

#: unit kinds (``sftlens.study.graph.UNIT_KINDS``) that run before the grid
PREGRID = ("probe chunk", "probe merge", "select", "base eval", "calibrate")


def grid_window(records: list[dict[str, Any]]) -> tuple[float, float, int]:
    """(start, end, cells): from the first grid unit's start to the last one's finish."""
    grid = [r for r in records if unit_kind(r["name"]) not in PREGRID]
    if not grid or any("started" not in r for r in grid):
        raise SystemExit("the run has no timed grid units (unit.json without 'started')")
    cells = {r["name"].split("/")[0] for r in grid}
    return min(r["started"] for r in grid), max(r["finished"] for r in grid), len(cells)


def mean_util(path: Path, start: float, end: float, gpus: set[int]) -> dict[int, float]:
    """Mean utilisation per GPU over the samples taken in [start, end]."""
    sums: dict[int, list[float]] = {}
    with path.open() as f:
        for row in csv.reader(f):
            if len(row) < 3 or not row[0].strip().replace(".", "").isdigit():
                continue
            t, gpu, util = float(row[0]), int(row[1]), float(row[2])
            if start <= t <= end and gpu in gpus:
                sums.setdefault(gpu, []).append(util)
    return {g: sum(v) / len(v) for g, v in sorted(sums.items()) if v}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("util_csv", type=Path)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--gpus", default="0", help="comma list of GPU indices the run used")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    start, end, cells = grid_window(read_units(args.run_dir))
    util = mean_util(args.util_csv, start, end, {int(g) for g in args.gpus.split(",")})
    minutes = (end - start) / 60
    result = {
        "grid_seconds": round(end - start, 1),
        "cells": cells,
        "cells_per_min": round(cells / minutes, 2) if minutes else None,
        "mean_util": {str(g): round(u, 1) for g, u in util.items()},
    }
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
