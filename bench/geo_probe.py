"""Probe a model on the ``geo:`` train pools with the paper protocol: level shares per domain,
each level's pool against the grid's sizes, and Spearman(popularity, R); with ``--eq DIR``
the same model on EntityQuestions (the baseline: what the paper's data gives this model).

Runs ``sftlens probe`` (the stage, so the numbers are the study's) into ``--out``/probe-geo
(and probe-eq), then prints a short table and writes ``--out``/geo_probe.json.  Rerunning
resumes the probes.

Example (one H200; the paper protocol: every template x 10 samples, T=0.7, 32 tokens)::

    python bench/geo_probe.py --model google/gemma-3-270m --out /tmp/geo-probe --device cuda \\
        --eq ../shared/data/entityquestions --eq-limit 300
    # CPU smoke / preview: 2 templates x 2 samples, 40 facts per relation
    python bench/geo_probe.py --model /path/gemma3-270m-hf --out /tmp/gp --device cpu \\
        --templates 2 --samples 2 --limit 40
    # the grid sizes (a study override) that every level's in-domain train pool holds
    python bench/geo_probe.py --sizes-held RUN/units/probe/mastery.parquet
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

from sftlens.correlation import spearman
from sftlens.study.sections import PAPER_SIZES

SIZES = [int(s) for s in PAPER_SIZES]  # the paper's grid


def run_probe(args: argparse.Namespace, data: str, out: Path, limit: int | None) -> float:
    """``sftlens probe`` on the train split; returns its wall seconds."""
    cmd = [sys.executable, "-m", "sftlens", "probe", "--model", args.model, "--data", data,
           "--out", str(out), "--device", args.device, "--samples", str(args.samples),
           "splits=[train]", f"dtype={args.dtype}"]  # fmt: skip
    if args.templates:
        cmd.append(f"templates={args.templates}")
    if limit:
        cmd += ["--limit", str(limit)]
    if out.exists():
        cmd.append("--force")  # the probe stage resumes its finished chunks
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def shares(mastery: pd.DataFrame) -> dict[str, Any]:
    """Per domain: facts per level, shares, the largest paper size every level holds,
    Spearman(exposure, R) pooled and per relation (populations of cities and countries
    differ by orders of magnitude, so the per-relation values are the telling ones)."""
    out: dict[str, Any] = {}
    for domain, df in mastery.groupby("domain"):
        counts = {str(lv): int((df["level"] == lv).sum()) for lv in range(5)}
        n = len(df)
        held = [s for s in SIZES if all(c >= s for c in counts.values())]
        row: dict[str, Any] = {
            "n": n,
            "counts": counts,
            "shares": {lv: c / n for lv, c in counts.items()},
            "largest_size_all_levels_hold": held[-1] if held else 0,
        }
        if df["exposure"].notna().any():
            row["spearman"] = spearman(df["exposure"], df["R"])
            row["spearman_per_relation"] = {
                str(rel): spearman(g["exposure"], g["R"]) for rel, g in df.groupby("relation")
            }
        out[str(domain)] = row
    return out


def table(results: dict[str, Any]) -> str:
    lines = [
        "data    domain      n     L0     L1     L2     L3     L4  min-pool  size  spearman  median/rel"
    ]
    for data, res in results.items():
        for domain, row in res["domains"].items():
            cells = " ".join(f"{100 * row['shares'][str(lv)]:5.1f}%" for lv in range(5))
            rho = row.get("spearman")
            per_rel = sorted(v for v in row.get("spearman_per_relation", {}).values() if v == v)
            med = per_rel[len(per_rel) // 2] if per_rel else None
            lines.append(
                f"{data:<7} {domain:<6} {row['n']:>6} {cells} {min(row['counts'].values()):>9}"
                f" {row['largest_size_all_levels_hold']:>5}  {'-' if rho is None else f'{rho:.3f}':>8}"
                f"  {'-' if med is None else f'{med:.3f}':>10}"
            )
        lines.append(f"{data:<7} probe wall {res['seconds']:.0f} s")
    return "\n".join(lines)


def sizes_held(mastery_path: str) -> str:
    """``grid.sizes=[...]``: the paper's sizes that every level's in-domain train pool of a
    study's mastery table holds (a study override)."""
    mastery = pd.read_parquet(mastery_path)
    pool = mastery[(mastery["split"] == "train") & (mastery["domain"] == "in")]
    held = shares(pool)["in"]["largest_size_all_levels_hold"]
    return f"grid.sizes=[{','.join(str(s) for s in SIZES if s <= held)}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--data", default="geo:", help="the geo spec (options: docs/data.md)")
    ap.add_argument("--templates", type=int, default=None, help="first n templates (all)")
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--limit", type=int, default=None, help="facts per relation (all)")
    ap.add_argument("--eq", default=None, help="EntityQuestions dir: the baseline")
    ap.add_argument("--eq-limit", type=int, default=300)
    ap.add_argument("--sizes-held", metavar="MASTERY", help="print the grid sizes it holds, only")
    args = ap.parse_args()
    if args.sizes_held:
        print(sizes_held(args.sizes_held))
        return
    if not (args.model and args.out):
        ap.error("--model and --out are required")
    args.out.mkdir(parents=True, exist_ok=True)
    runs = {"geo": (args.data, args.limit)}
    if args.eq:
        runs["eq"] = (f"entityquestions:{args.eq}", args.eq_limit)
    results = {}
    for name, (data, limit) in runs.items():
        out = args.out / f"probe-{name}"
        seconds = run_probe(args, data, out, limit)
        mastery = pd.read_parquet(out / "mastery.parquet")
        results[name] = {"data": data, "limit": limit, "seconds": seconds,
                         "domains": shares(mastery)}  # fmt: skip
    (args.out / "geo_probe.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
