"""Benchmark the findings' bootstrap on a gpu-world-sized study (synthetic per-question results).

The `gpu` world's grid: 5 training levels × 6 sizes × 3 seeds = 90 fine-tunes, the 15 largest
restored with 3 strategies × 7 k (315 restored models), 5,000 in-domain + 3,500 OOD test
questions in 17 relations, token KL on 2,864 level-4 facts.  Times writing the tables, loading
them (``load_results``) and judging the four findings (``judge``: 2,000 resamples each); the
baseline in the same run is the seed-only rule's cost (a mean and std-dev per contrast), i.e.
what the intervals add.  CPU only.

Example::

    python bench/verdicts.py --out runs/bench-verdicts          # --questions 500 for a smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from sftlens.evaluation import question_key
from sftlens.reporting import ReportConfig, judge, load_results
from sftlens.tableio import write_table

LEVELS, SIZES, SEEDS = ["0", "1", "2", "3", "4"], [60, 120, 240, 480, 960, 1920], [0, 1, 2]
KS, STRATEGIES = [1, 3, 5, 10, 20, 40, 60], ["top", "random", "bottom"]


def questions(n_in: int, n_ood: int, rng: np.random.Generator) -> list[dict[str, object]]:
    rows = []
    for domain, n in (("in", n_in), ("ood", n_ood)):
        rel = rng.integers(0, 17, n)
        lv = rng.choice(5, n, p=[0.2, 0.07, 0.06, 0.09, 0.58])
        rows += [{"test_set": "test", "id": f"{domain}{i}", "relation": f"P{r}", "domain": domain,
                  "level": int(v)} for i, (r, v) in enumerate(zip(rel, lv, strict=True))]  # fmt: skip
    key = question_key([str(r["id"]) for r in rows])
    return [{**r, "position": i, "questions": key} for i, r in enumerate(rows)]


def models() -> list[dict[str, object]]:
    out = []
    for lv in LEVELS:
        for size in SIZES:
            for seed in SEEDS:
                cell = {"train_level": lv, "size": size, "seed": seed, "n_train": size}
                out.append({**cell, "restore_k": 0.0, "strategy": "none", "region": "none"})
                if size == SIZES[-1]:
                    out += [{**cell, "restore_k": float(k), "strategy": s, "region": "transformer"}
                            for s in STRATEGIES for k in KS]  # fmt: skip
    return out


def write_study(run: Path, n_in: int, n_ood: int, n_kl: int) -> dict[str, int]:
    rng = np.random.default_rng(0)
    qs = questions(n_in, n_ood, rng)
    hard = rng.random(len(qs))
    answers, acc, kl_facts = [], [], []
    for m in models():
        p = 0.3 + 0.02 * SIZES.index(int(m["size"])) + 0.03 * LEVELS.index(str(m["train_level"]))  # type: ignore[call-overload]
        own = np.where(rng.random(len(qs)) < 0.8, hard, rng.random(len(qs)))
        correct = "".join("1" if c else "0" for c in own < p)
        answers.append({**m, "test_set": "test", "questions": qs[0]["questions"], "n": len(qs),
                        "correct": correct})  # fmt: skip
        acc += [{**m, "test_set": "test", "domain": d, "test_level": t, "n": 1, "correct": 0,
                 "accuracy": p} for d in ("in", "ood") for t in (-1, 0, 4)]  # fmt: skip
        if m["restore_k"] == 0:
            v = rng.normal(0.3, 0.05, n_kl)
            kl_facts += [{"train_level": m["train_level"], "size": m["size"], "seed": m["seed"],
                          "id": f"in{i}", "relation": "P1", "level": 4, "kl_top10": float(x)}
                         for i, x in enumerate(v)]  # fmt: skip
    for name, rows in (("accuracy", acc), ("answers", answers), ("questions", qs),
                       ("kl_facts", kl_facts)):  # fmt: skip
        write_table(run / "results" / f"{name}.parquet", rows)
    return {"models": len(answers), "questions": len(qs), "kl_facts": n_kl}


def seed_only_rule(res: object) -> None:
    """The cost of the rule without intervals: per-seed macro means, mean and std per contrast."""
    acc = res.accuracy  # type: ignore[attr-defined]
    per = acc[acc["test_level"] == -1].groupby(["seed", "size", "train_level"])["accuracy"].mean()
    per.groupby("size").agg(["mean", "std"])


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--questions", type=int, default=5000, help="in-domain test questions")
    p.add_argument("--ood", type=int, default=3500, help="OOD test questions")
    p.add_argument("--kl-facts", type=int, default=2864, help="facts of the token-KL analysis")
    p.add_argument("--device", default="cpu", help="ignored (CPU only)")
    args = p.parse_args()
    run = args.out / "study"
    sizes, t_write = timed(lambda: write_study(run, args.questions, args.ood, args.kl_facts))
    res, t_load = timed(lambda: load_results(run))
    found, t_judge = timed(lambda: judge(res, ReportConfig()))
    _, t_again = timed(lambda: judge(load_results(run), ReportConfig()))
    _, t_base = timed(lambda: seed_only_rule(res))
    same = [f.evidence for f in found] == [f.evidence for f in judge(res, ReportConfig())]
    out = {**sizes, "write_s": t_write, "load_s": t_load, "judge_s": t_judge,
           "load_and_judge_again_s": t_again, "seed_only_baseline_s": t_base,
           "same_intervals_twice": same, "verdicts": [f.verdict for f in found]}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "verdicts.json").write_text(json.dumps(out, indent=2))
    print(f"{'step':<34}{'seconds':>9}")
    for k in ("write_s", "load_s", "judge_s", "load_and_judge_again_s", "seed_only_baseline_s"):
        print(f"{k:<34}{out[k]:>9.2f}")
    print(
        f"{sizes['models']} models × {sizes['questions']} questions; same intervals twice: {same}"
    )


if __name__ == "__main__":
    main()
