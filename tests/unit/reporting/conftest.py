"""Synthetic study results with known shapes (peak, swing, KL valley, restoration gain)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sftlens.evaluation import question_key
from sftlens.tableio import write_table

SIZES = [60, 240, 960]
LEVELS = ["0", "2", "4"]


RELATIONS = ["P17", "P19", "P20", "P36", "P131"]
PER_STRATUM = 40  # questions per (relation, level): 1,000 per domain


def synthetic_questions() -> list[dict[str, Any]]:
    """The test questions: every domain × relation × level × ``PER_STRATUM``."""
    rows = []
    for domain in ("in", "ood"):
        for rel in RELATIONS:
            for lv in range(5):
                for i in range(PER_STRATUM):
                    rows.append({"test_set": "test", "id": f"{domain}-{rel}-{lv}-{i}",
                                 "relation": rel, "domain": domain, "level": lv})  # fmt: skip
    for pos, row in enumerate(rows):
        row["position"] = pos
    key = question_key([r["id"] for r in rows])
    return [{**r, "questions": key} for r in rows]


def answer_row(
    model: dict[str, Any], p: float, shared: np.ndarray, key: str, rng: Any
) -> dict[str, Any]:
    """A model answering each question correctly when its draw is below ``p``; 80% of the draws
    are the question's own (shared by all models: a question is easy or hard for every model)."""
    own = np.where(rng.random(len(shared)) < 0.8, shared, rng.random(len(shared)))
    correct = "".join("1" if c else "0" for c in own < p)
    return {**model, "test_set": "test", "questions": key, "n": len(shared), "correct": correct}


def synthetic_rows(
    seeds: int = 3, noise: float = 0.005, peak_at: int = 240, gain: float = 0.03, swing: float = 0.10,
    kl_shape: str = "valley",
) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """Accuracy peaks at ``peak_at``; level 4 training beats level 0 by ``swing``; KL has a valley.

    ``noise``: per-model noise of the accuracy (of the correctness probability per question)."""
    rng = np.random.default_rng(0)
    acc, kl, diff, groups, mastery, answers, kl_facts = [], [], [], [], [], [], []
    questions = synthetic_questions()
    shared = rng.random(len(questions))
    fact_effect = rng.normal(0, 0.05, 100)
    for li, level in enumerate(LEVELS):
        for si, size in enumerate(SIZES):
            for seed in range(seeds):
                base = 0.5 - 0.05 * abs(np.log2(size / peak_at)) + swing * li / (len(LEVELS) - 1)
                cell = {"train_level": level, "size": size, "seed": seed}
                ks = [0.0, 1.0, 5.0, 20.0, 40.0] if size == SIZES[-1] else [0.0]
                for k in ks:
                    delta = 0.0 if k == 0 else (gain if k <= 20 else -0.1)
                    model = {**cell, "restore_k": k, "strategy": "none" if k == 0 else "top",
                             "region": "none" if k == 0 else "transformer"}  # fmt: skip
                    p_model = base + delta + rng.normal(0, noise)
                    answers.append(
                        answer_row(model, p_model, shared, questions[0]["questions"], rng)
                    )
                    for domain in ("in", "ood"):
                        for tl in (-1, 0, 1, 2, 3, 4):
                            a = float(np.clip(base + delta + rng.normal(0, noise), 0, 1))
                            acc.append({**cell, "restore_k": k, "strategy": "none" if k == 0 else "top",
                                        "region": "none" if k == 0 else "transformer", "test_set": "test",
                                        "domain": domain, "test_level": tl, "n": 100, "correct": round(a * 100),
                                        "accuracy": a})  # fmt: skip
                v = {"valley": [0.5, 0.2, 0.6], "falling": [0.6, 0.4, 0.2]}[kl_shape][si]
                for i, eff in enumerate(fact_effect):
                    kl_facts.append({**cell, "id": f"in-P17-4-{i}", "relation": RELATIONS[i % 5],
                                     "level": 4, "kl_top10": v + eff + rng.normal(0, 0.02)})  # fmt: skip
                for tl in (0, 4):
                    kl.append({**cell, "test_level": tl, "n": 50, "kl_top10": v + rng.normal(0, 0.01),
                               "kl_full_fwd": v, "kl_full_rev": v, "logprob_shift": -v})  # fmt: skip
                for p, share in ((1, 0.3), (5, 0.6), (20, 0.9)):
                    diff.append({**cell, "top_pct": float(p), "share": share + rng.normal(0, 0.01)})
                for layer in range(2):
                    groups.append(
                        {**cell, "kind": "layer", "group": str(layer), "value": 0.1 * (layer + 1)}
                    )
                for mod in ("q_proj", "mlp.down_proj"):
                    groups.append({**cell, "kind": "module", "group": mod, "value": 0.2})
    for i in range(200):
        mastery.append({"id": f"f{i}", "relation": "P19", "domain": "in" if i % 2 else "ood",
                        "split": "train" if i % 3 else "test", "scheme": "paper", "n_correct": i % 10,
                        "n_total": 10, "R": (i % 10) / 10, "level": min(4, (i % 10 + 2) // 3),
                        "exposure": i % 7})  # fmt: skip
    return {
        "accuracy": acc,
        "kl": kl,
        "diff_stats": diff,
        "diff_groups": groups,
        "mastery": mastery,
        "answers": answers,
        "questions": questions,
        "kl_facts": kl_facts,
    }


def write_results(run_dir: Path, tables: dict[str, list[dict[str, Any]]]) -> Path:
    for name, rows in tables.items():
        write_table(run_dir / "results" / f"{name}.parquet", rows)
    return run_dir


@pytest.fixture
def synthetic_run(tmp_path: Path) -> Path:
    return write_results(tmp_path / "run", synthetic_rows())
