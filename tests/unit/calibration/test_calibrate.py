"""``calibrate_lr``: one fine-tune per lr, scored on dev facts only (spied), argmax chosen."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import sftlens.evaluation
import sftlens.finetuning
from sftlens.calibration import calibrate_lr, check_dev_split, dev_facts
from sftlens.data.records import Fact
from sftlens.errors import ConfigError, DataError
from sftlens.evaluation.config import EvaluateConfig
from sftlens.finetuning.config import FinetuneConfig

#: dev macro accuracy in-domain that the spied evaluation reports for each lr
DEV_SCORE = {1e-5: 0.2, 3e-5: 0.6, 1e-4: 0.4, 3e-4: 0.6}


def facts() -> list[Fact]:
    out = []
    for split in ("train", "dev", "test"):
        for i in range(12):
            domain = "in" if i % 3 else "ood"
            out.append(Fact(f"{split}/{i}", f"P{17 + i % 2}", f"s{i}", f"q{i}?", (f"a{i}",),
                            domain=domain, split=split))  # fmt: skip
    out.append(Fact("qa/0", "P17", "s", "q?", ("a",), split="dev", role="pretrain_qa"))
    return out


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    seen: dict[str, list[Any]] = {"trained": [], "evaluated": []}

    def fake_finetune(model, tok, examples, cfg, progress=True):
        seen["trained"].append((cfg.lr, cfg.seed, [e["id"] for e in examples]))
        return SimpleNamespace(model=SimpleNamespace(lr=cfg.lr, eval=lambda: None))

    def fake_evaluate(model, tok, facts, levels, cfg, progress=True):
        seen["evaluated"].append(list(facts))
        score = DEV_SCORE[model.lr]
        rows = [{"domain": d, "test_level": t, "n": 3, "correct": 1, "accuracy": score}
                for d in ("in", "ood") for t in (-1, 0, 1, 2, 3, 4)]  # fmt: skip
        return SimpleNamespace(rows=rows)

    monkeypatch.setattr(sftlens.finetuning, "finetune", fake_finetune)
    monkeypatch.setattr(sftlens.evaluation, "evaluate_model", fake_evaluate)
    return seen


def run(all_facts: list[Fact], dev: list[Fact], lrs=tuple(DEV_SCORE)) -> Any:
    levels = {f.id: i % 5 for i, f in enumerate(all_facts)}
    return calibrate_lr(
        SimpleNamespace(), None, all_facts, dev, levels, lrs=list(lrs), size=4, seed=3,
        finetune_cfg=FinetuneConfig(), evaluate_cfg=EvaluateConfig(split="dev"),
    )  # fmt: skip


def test_picks_the_argmax_and_only_ever_evaluates_dev_facts(spies: dict[str, list[Any]]):
    all_facts = facts()
    cal = run(all_facts, dev_facts(all_facts))
    assert cal.lr == 3e-5  # 0.6 at 3e-5 and 3e-4: the tie goes to the smaller lr
    assert [r["lr"] for r in cal.rows] == sorted(DEV_SCORE)
    assert [r["chosen"] for r in cal.rows] == [False, True, False, False]
    assert [lr for lr, _, _ in spies["trained"]] == list(DEV_SCORE)
    evaluated = [f for batch in spies["evaluated"] for f in batch]
    assert evaluated and {f.split for f in evaluated} == {"dev"}
    assert not any(f.role == "pretrain_qa" for f in evaluated)


def test_one_mixed_in_domain_train_set_with_a_fixed_seed(spies: dict[str, list[Any]]):
    all_facts = facts()
    cal = run(all_facts, dev_facts(all_facts))
    sets = {tuple(ids) for _, _, ids in spies["trained"]}
    assert len(sets) == 1 and cal.n_train == 4  # the same set for every lr
    by_id = {f.id: f for f in all_facts}
    assert all(by_id[i].split == "train" and by_id[i].domain == "in" for i in sets.pop())
    assert {seed for _, seed, _ in spies["trained"]} == {3}


def test_a_test_fact_among_the_dev_facts_is_refused(spies: dict[str, list[Any]]):
    all_facts = facts()
    leak = [f for f in all_facts if f.split == "test"][:1]
    with pytest.raises(DataError, match="dev facts only"):
        run(all_facts, dev_facts(all_facts) + leak)
    assert spies["trained"] == []


def test_missing_dev_split_names_it():
    no_dev = [f for f in facts() if f.split != "dev" or f.role == "pretrain_qa"]
    with pytest.raises(ConfigError, match=r"world:W: .*needs a 'dev' split.*splits: test, train"):
        check_dev_split(no_dev, "world:W")
    check_dev_split(facts(), "world:W")
