"""Is a study rerun on one world bit-reproducible?  Runs one study config several times on the
same built world (each run a fresh process and run directory), with default kernels and, where
asked, with ``deterministic=true`` (``sftlens.determinism``), and compares what every run stored:
each evaluated model's per-question correctness (``results/answers.parquet``), the per-fact token
KL (``results/kl_facts.parquet``) and the macro accuracies; then ``sftlens compare`` sets the
runs' findings side by side.  The first run of each mode is the reference of that mode.

Example::

    python bench/study_determinism.py configs/demo-tiny.yaml --world runs/world-tiny --out DIR \\
        grid.seeds=[0,1] grid.sizes=[10,40] grid.levels=[0,4]
    python bench/study_determinism.py configs/world-gpu.yaml --world /tmp/world-gpu --out DIR \\
        --workers-per-gpu 6 test_per_relation=500
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

MODEL_COLUMNS = ["train_level", "size", "seed", "restore_k", "strategy", "region", "test_set"]


def run_study(
    config: Path, world: Path, out: Path, workers: list[str], settings: list[str]
) -> float:
    """One study run in a child process; its wall seconds (raises when the run fails)."""
    cmd = [sys.executable, "-m", "sftlens", "-q", "study", str(config), "--out", str(out),
           *workers, f"world={world}", *settings]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{out}: study failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return time.perf_counter() - t0


def differences(ref: Path, other: Path) -> dict[str, Any]:
    """How ``other``'s stored results differ from ``ref``'s."""
    a = pd.read_parquet(ref / "results" / "answers.parquet")
    b = pd.read_parquet(other / "results" / "answers.parquet")
    both = a.merge(b, on=MODEL_COLUMNS, suffixes=("_a", "_b"))
    flips = [
        sum(x != y for x, y in zip(s, t, strict=True))
        for s, t in zip(both["correct_a"], both["correct_b"], strict=True)
    ]
    found = {
        "models": len(both),
        "models_differing": sum(f > 0 for f in flips),
        "answers": int(sum(len(s) for s in both["correct_a"])),
        "answers_differing": int(sum(flips)),
    }
    kl_a, kl_b = (pd.read_parquet(p / "results" / "kl_facts.parquet") for p in (ref, other))
    if len(kl_a) and len(kl_b):
        keys = ["train_level", "size", "seed", "id"]
        kl = kl_a.merge(kl_b, on=keys, suffixes=("_a", "_b"))
        found["kl_max_abs_diff"] = float((kl["kl_top10_a"] - kl["kl_top10_b"]).abs().max())
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", type=Path, help="study YAML")
    ap.add_argument("--world", type=Path, required=True, help="a built world directory")
    ap.add_argument("--out", type=Path, required=True, help="directory for the runs and the JSON")
    ap.add_argument("--runs", type=int, default=2, help="runs per mode")
    ap.add_argument("--modes", default="default,deterministic")
    ap.add_argument("--workers-per-gpu", type=int, help="as `sftlens study --workers-per-gpu`")
    ap.add_argument("settings", nargs="*", help="key=value settings of the study")
    args = ap.parse_intermixed_args()
    workers = (
        [] if args.workers_per_gpu is None else ["--workers-per-gpu", str(args.workers_per_gpu)]
    )
    rows: list[dict[str, Any]] = []
    for mode in args.modes.split(","):
        extra = ["deterministic=true"] if mode == "deterministic" else []
        dirs = [args.out / f"{mode}-{i}" for i in range(args.runs)]
        for i, run_dir in enumerate(dirs):
            secs = run_study(args.config, args.world, run_dir, workers, [*args.settings, *extra])
            row = {"mode": mode, "run": i, "seconds": round(secs, 1)}
            if i:
                row.update(differences(dirs[0], run_dir))
            rows.append(row)
            print(json.dumps(row), flush=True)
    all_dirs = sorted(p for p in args.out.iterdir() if (p / "results").is_dir())
    subprocess.run([sys.executable, "-m", "sftlens", "-q", "compare", "--runs",
                    ",".join(map(str, all_dirs)), "--labels", ",".join(p.name for p in all_dirs),
                    "--out", str(args.out / "compare"), "--force"], check=True)  # fmt: skip
    (args.out / "study_determinism.json").write_text(json.dumps(rows, indent=2))
    for mode in args.modes.split(","):
        others = [r for r in rows if r["mode"] == mode and r["run"] > 0]
        same = all(r["answers_differing"] == 0 and r.get("kl_max_abs_diff", 0) == 0 for r in others)
        print(f"{mode}: {'identical' if same else 'NOT identical'} over {args.runs} runs")


if __name__ == "__main__":
    main()
