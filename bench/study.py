"""Benchmark the study grid with 1 worker and with several workers (cells/min, wall time, GPU use).

Example::

    python bench/study.py configs/world-gpu.yaml --world /tmp/world-gpu --per-gpu 1,4
    python bench/study.py configs/demo-tiny.yaml --world /tmp/world-tiny --device cpu --per-gpu 1,2 \
        --set grid.seeds=[0] --json out.json

The probe and the base evaluation do not depend on the grid, so they run once (a one-cell
"prep" study) and are copied into every measured run: each measured run is the grid alone
(select, every cell, assembly, report).  A variant ``M`` runs ``M`` workers on every GPU
(``--workers-per-gpu M``; on CPU ``--workers M``); ``1`` is the sequential runner.  On a GPU,
a thread samples ``torch.cuda.utilization`` every second (mean over the run, all GPUs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from common import GpuMonitor


def study(cfg: Path, out: Path, extra: list[str]) -> float:
    """Run ``sftlens study`` in a subprocess; its wall time in seconds."""
    cmd = [sys.executable, "-m", "sftlens", "-q", "study", str(cfg), "--out", str(out), *extra]
    start = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)  # its logs go to stderr
    return time.monotonic() - start


def prep(cfg: Path, work: Path, overrides: list[str]) -> Path:
    """A one-cell study that leaves the probe and base evaluation to reuse."""
    grid = yaml.safe_load(cfg.read_text()).get("grid", {})
    smallest = min((s for s in grid.get("sizes", [60]) if isinstance(s, int)), default=60)
    one = [
        f"grid.levels=[{grid.get('levels', ['0'])[0]}]",
        f"grid.sizes=[{smallest}]",
        "grid.seeds=[0]",
    ]
    one += ["restore.enabled=false", "kl_enabled=false", "diff_stats.enabled=false", "report=false"]
    out = work / "prep"
    print(
        f"prep: probe + base evaluation in {study(cfg, out, [*overrides, *one]):.0f}s", flush=True
    )
    return out


def measure(cfg: Path, work: Path, pre: Path, per: int, args: argparse.Namespace) -> dict[str, Any]:
    out = work / f"run-{per}"
    shutil.rmtree(out, ignore_errors=True)  # a measured run starts from the probe alone
    for name in [p.name for p in (pre / "units").iterdir() if p.name in ("probe", "base")]:
        shutil.copytree(pre / "units" / name, out / "units" / name)
    shutil.copyfile(pre / "manifest.json", out / "manifest.json")
    flag = (
        []
        if per == 1
        else (["--workers", str(per)] if args.device == "cpu" else ["--workers-per-gpu", str(per)])
    )
    with GpuMonitor("cpu" if args.device == "cpu" else "cuda", every=1.0, all_gpus=True) as mon:
        seconds = study(cfg, out, [*args.set, *flag])
    cells = len(list((out / "units").glob("L*/finetune")))
    row = {"per": per, "flag": " ".join(flag) or "sequential", "cells": cells, "seconds": round(seconds, 1),
           "cells_per_min": round(cells / seconds * 60, 2),
           "gpu_util_mean": None if mon.mean is None else round(mon.mean, 1)}  # fmt: skip
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("config", type=Path)
    p.add_argument("--world", help="a built world (sets world=...)")
    p.add_argument("--device", default="cuda", help="cuda | cpu")
    p.add_argument("--per-gpu", default="1,4", help="comma list of workers per GPU (CPU: workers)")
    p.add_argument("--set", action="append", default=[], help="key=value override (repeatable)")
    p.add_argument("--workdir", type=Path, help="where the runs go (default: a temp dir)")
    p.add_argument("--json", type=Path, help="write the rows here")
    args = p.parse_args()
    args.set = [
        *args.set,
        f"device={args.device}",
        *([f"world={args.world}"] if args.world else []),
    ]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-study-"))
    pre = prep(args.config, work, args.set)
    rows = [measure(args.config, work, pre, int(x), args) for x in args.per_gpu.split(",")]
    if len(rows) > 1:
        print(f"speed-up of {rows[-1]['flag']} over {rows[0]['flag']}: "
              f"{rows[-1]['cells_per_min'] / rows[0]['cells_per_min']:.2f}x")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
