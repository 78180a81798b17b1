"""Where a study's time went: the units' recorded wall seconds, summed per kind of unit.

Reads every ``units/**/unit.json`` of a run directory (each executed unit records when it
``started``, its own ``seconds``, the ``needs_seconds`` of the in-memory units computed for
it first, i.e. the fine-tune, and the ``rank``/``device`` of the worker that ran it) and
prints one row per kind of unit: count, total, mean and max seconds and the share of the
summed time.  Then the wall span from the first unit's start to the last unit's end, and
per worker its busy seconds and their share of that span (the rest is start-up, waiting at
the pre-grid barriers and claiming).  Loading the base model is inside the first unit of each
worker that needs it.  Units finished before these fields were recorded count as ``untimed``.

Example::

    python bench/study_units.py runs/gpu --json units.json

    kind                count    total s   mean s    max s   share
    probe chunk             8      201.0     25.1     27.9    8.1%
    finetune               90     1210.4     13.4     19.0   48.9%
    ...
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from sftlens.study.graph import UNIT_KINDS, unit_kind


def read_units(run: Path) -> list[dict[str, Any]]:
    """Every unit.json of the run, with its name taken from its folder when absent."""
    units = []
    for path in sorted((run / "units").glob("**/unit.json")):
        record = json.loads(path.read_text())
        record.setdefault("name", str(path.parent.relative_to(run / "units")))
        units.append(record)
    return units


def timed_rows(units: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """(kind, seconds) for every unit's own time and every in-memory unit computed for it."""
    rows = []
    for u in units:
        if "seconds" not in u:
            rows.append(("untimed", 0.0))
            continue
        rows.append((unit_kind(u["name"]), float(u["seconds"])))
        rows += [(unit_kind(n), float(s)) for n, s in u.get("needs_seconds", {}).items()]
    return rows


def summarize(units: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-kind totals, the wall span and per-worker busy time."""
    by_kind: dict[str, list[float]] = defaultdict(list)
    for kind, seconds in timed_rows(units):
        by_kind[kind].append(seconds)
    total = sum(sum(v) for v in by_kind.values()) or 1.0
    order = [*UNIT_KINDS, "other", "untimed"]
    kinds = [
        {"kind": k, "count": len(v), "total_s": sum(v), "mean_s": sum(v) / len(v),
         "max_s": max(v), "share": sum(v) / total}
        for k in order if (v := by_kind.get(k))
    ]  # fmt: skip
    timed = [u for u in units if "started" in u]
    span = max(u["finished"] for u in timed) - min(u["started"] for u in timed) if timed else None
    busy: dict[str, float] = defaultdict(float)
    for u in timed:
        worker = f"rank {u['rank']} {u.get('device', '')}" if "rank" in u else "one process"
        busy[worker] += u["seconds"] + sum(u.get("needs_seconds", {}).values())
    workers = [
        {"worker": w, "busy_s": s, "share_of_span": s / span if span else None}
        for w, s in sorted(busy.items())
    ]
    return {"units": len(units), "kinds": kinds, "span_s": span, "workers": workers}


def print_summary(summary: dict[str, Any]) -> None:
    print(f"{'kind':<16}{'count':>7}{'total s':>11}{'mean s':>9}{'max s':>9}{'share':>8}")
    for r in summary["kinds"]:
        print(
            f"{r['kind']:<16}{r['count']:>7}{r['total_s']:>11.1f}{r['mean_s']:>9.2f}"
            f"{r['max_s']:>9.2f}{r['share']:>8.1%}"
        )
    span = summary["span_s"]
    if span is None:
        print("no unit recorded its start: no wall span")
        return
    summed = sum(r["total_s"] for r in summary["kinds"])
    print(
        f"\n{summary['units']} units, {summed:.1f} s summed; wall span first start → last end: {span:.1f} s"
    )
    for w in summary["workers"]:
        print(
            f"  {w['worker']:<20} busy {w['busy_s']:>9.1f} s = {w['share_of_span']:.1%} of the span"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a study's run directory (--out)")
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args(argv)
    if not (args.run / "units").is_dir():
        print(f"{args.run}: no units/ folder (not a study run directory)", file=sys.stderr)
        return 2
    summary = summarize(read_units(args.run))
    print_summary(summary)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
