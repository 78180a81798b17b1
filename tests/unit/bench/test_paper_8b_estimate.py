"""``bench/paper_8b_estimate.py``: the work of a small study counted from its config and graph."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import paper_8b_estimate as est

RELATIONS = {
    "relations": {
        "capital_of": {"name": "capital", "question": "What is the capital of {subject}?",
                       "statements": ["The capital of {subject} is", "{subject}'s capital is",
                                      "{subject} has its capital in"]},
        "language_of": {"name": "language", "question": "What language is spoken in {subject}?",
                        "statements": ["In {subject} people speak", "The language of {subject} is"]},
    }
}  # fmt: skip


def small_study(root: Path) -> Path:
    """An in-domain relation (6 train, 3 test facts) and an OOD one (4 train, 2 test)."""
    rows = []
    for rel, domain, counts in (("capital_of", "in", {"train": 6, "test": 3}),
                                ("language_of", "ood", {"train": 4, "test": 2})):  # fmt: skip
        for split, n in counts.items():
            for i in range(n):
                subject = f"{rel}-{split}-{i}"
                question = RELATIONS["relations"][rel]["question"].format(subject=subject)
                rows.append({"id": f"{rel}/{split}/{i}", "relation": rel, "subject": subject,
                             "answers": [f"A{i}"], "question": question, "domain": domain,
                             "split": split})  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    (root / "facts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "relations.yaml").write_text(yaml.safe_dump(RELATIONS))
    cfg = {
        "name": "small", "model": "org/some-model", "data": f"jsonl:{root / 'facts.jsonl'}",
        "relations": str(root / "relations.yaml"), "device": "cpu",
        "grid": {"levels": ["0", "4"], "sizes": [2, 4], "seeds": [0]},
        "probe": {"templates": 2, "samples": 3},
        "finetune": {"batch_size": 3, "lr": 1e-5},
        "restore": {"ks": [1, 10], "strategies": ["top", "random"], "which": "largest"},
    }  # fmt: skip
    (root / "study.yaml").write_text(yaml.safe_dump(cfg))
    return root / "study.yaml"


def test_the_work_of_a_small_study_is_counted_from_its_graph(tmp_path: Path) -> None:
    work = est.study_work(small_study(tmp_path), [])
    assert work.probe_facts == 6 + 5  # the in-domain train pool + the test facts
    assert work.probe_completions == 11 * 2 * 3  # facts x templates x samples
    assert work.finetunes == 4 and work.tuned_evaluations == 4 and work.base_evaluations == 1
    assert work.sft_samples == 2 * (2 + 4)
    assert work.sft_steps == 2 * (1 + 2)  # ceil(2 / 3) + ceil(4 / 3) per level
    assert work.restore_sweeps == 2 * 2  # the two size-4 fine-tunes x (top, random)
    assert work.restored_evaluations == 4 * 2  # x 2 ks
    assert work.questions == 5 and work.kl_units == 4 and work.kl_facts == 5
    assert work.diff_units == 4
    fewer = est.study_work(small_study(tmp_path), ["restore.which=all", "kl_enabled=false",
                                                   "test_per_relation=1"])  # fmt: skip
    assert fewer.restore_sweeps == 4 * 2 and fewer.kl_units == 0 and fewer.questions == 2


def test_count_work_reads_sizes_and_kinds_from_unit_names(tmp_path: Path) -> None:
    from sftlens.config import load_config
    from sftlens.study.config import StudyConfig

    cfg = load_config(StudyConfig, small_study(tmp_path))
    names = ["probe/chunk-0000", "probe", "select", "base/eval", "L0-nall-s0/finetune",
             "L0-nall-s0/eval", "L0-nall-s0/restore-top-transformer", "L4-n4-s1/finetune"]  # fmt: skip
    work = est.count_work(cfg, names, probe_facts=1, probe_completions=2, questions=3,
                          kl_facts=0, pool=7)  # fmt: skip
    assert (work.finetunes, work.sft_samples, work.sft_steps) == (2, 7 + 4, 3 + 2)
    assert (work.tuned_evaluations, work.restore_sweeps, work.restored_evaluations) == (1, 1, 2)


def test_estimate_rows_and_a_missing_eq_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = est.Work(probe_facts=10, probe_completions=1000, finetunes=2, sft_samples=16, sft_steps=2,
                    base_evaluations=1, tuned_evaluations=2, restored_evaluations=4, questions=10,
                    kl_units=2, kl_facts=5, diff_units=2, restore_sweeps=2)  # fmt: skip
    rates = {key: default for key, (default, _, _) in est.RATES.items()}
    rates["probe_per_s"] = 100.0
    rows = {r.kind: r for r in est.estimate(work, rates)}
    assert rows["probe"].seconds == pytest.approx(10.0) and rows["probe"].source == "measured"
    assert rows["evaluate (restored)"].count == 40 and rows["token KL"].source == "estimate"
    assert rows["token KL"].count == (2 + 1) * 5  # each fine-tune, and the kept base once
    huge = est.Work(**{**work.__dict__, "kl_facts": 10**6})  # 1M facts x 128k tokens: not kept
    assert est.kl_forward_passes(huge) == 2 * 2
    assert "target <= 3 h: met" in est.table(list(rows.values()))
    assert est.main(["--eq-dir", str(tmp_path / "nowhere")]) == 2
    assert "EntityQuestions not found" in capsys.readouterr().err
