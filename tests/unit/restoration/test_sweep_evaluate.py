"""sweep_evaluate: each k's results equal those of evaluating its restored checkpoint on its own."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch

from sftlens.data.records import Fact
from sftlens.evaluation import EvaluateConfig, evaluate_model, prepare_evaluation
from sftlens.restoration import EngineSettings, restore_many, source_from_dir, sweep_evaluate

KS = [1.0, 10.0, 60.0]
QUIET = EngineSettings(progress=False)


def _tuned_dir(base_dir: Path, out: Path) -> Path:
    """A copy of the checkpoint in ``base_dir`` with every weight moved by x (1 + 0.2 N(0,1))."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base_dir)
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for p in model.parameters():
            p.mul_(1 + 0.2 * torch.randn(p.shape, generator=g))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(out)
    return out


def _synthetic_facts(n: int) -> tuple[list[Fact], dict[str, int]]:
    rng = random.Random(0)
    words = ["Alice", "Bob", "Paris", "Berlin", "Emma", "author", "river", "born"]
    facts, levels = [], {}
    for i in range(n):
        subject = " ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
        relation, domain = rng.choice([("P19", "in"), ("P50", "ood")])
        facts.append(Fact(f"q{i}", relation, subject, f"Where was {subject} born?",
                          (rng.choice(words),), domain=domain, split="test"))  # fmt: skip
        levels[f"q{i}"] = rng.randrange(5)
    return facts, levels


def _check_equal_to_checkpoints(
    base_dir: Path, tuned_dir: Path, tmp: Path, strategy: str, facts: list[Fact],
    levels: dict[str, int], cfg: EvaluateConfig,
) -> None:  # fmt: skip
    from sftlens.models import load_model, load_tokenizer

    outs = {k: tmp / f"{strategy}-k{k:g}" for k in KS}
    restore_many(base_dir, tuned_dir, outs, strategy, "transformer", seed=3, settings=QUIET)
    tok = load_tokenizer(tuned_dir)
    alone = {
        k: evaluate_model(load_model(d, "float32", "cpu"), tok, facts, levels, cfg, progress=False)
        for k, d in outs.items()
    }
    model = load_model(tuned_dir, "float32", "cpu")
    plans = {"test": prepare_evaluation(load_tokenizer(tuned_dir), facts, levels, cfg)}
    together = sweep_evaluate(
        model, source_from_dir(base_dir), KS, strategy, "transformer", 3, plans, settings=QUIET
    )
    assert sorted(together) == KS
    for k in KS:
        assert together[k]["test"].predictions == alone[k].predictions, (strategy, k)
        assert together[k]["test"].rows == alone[k].rows, (strategy, k)
    outputs = {k: [p["output"] for p in alone[k].predictions] for k in KS}
    assert outputs[KS[0]] != outputs[KS[-1]]  # the restored models answer differently


@pytest.mark.parametrize("strategy", ["top", "random", "bottom"])
def test_tiny_model_equals_each_checkpoint_alone(tiny_llama_dir, tmp_path, strategy) -> None:
    tuned = _tuned_dir(tiny_llama_dir, tmp_path / "tuned")
    facts, levels = _synthetic_facts(40)
    cfg = EvaluateConfig(max_new_tokens=6, batch_size=16)
    _check_equal_to_checkpoints(tiny_llama_dir, tuned, tmp_path, strategy, facts, levels, cfg)


@pytest.mark.parametrize("strategy", ["top", "random", "bottom"])
def test_micro_world_equals_each_checkpoint_alone(micro_world, tmp_path, strategy) -> None:
    from sftlens.data import load_dataset

    tuned = _tuned_dir(micro_world / "model", tmp_path / "tuned")
    facts = [f for f in load_dataset(f"world:{micro_world}").facts if f.split == "test"]
    levels = {f.id: i % 5 for i, f in enumerate(facts)}
    cfg = EvaluateConfig(max_new_tokens=8)
    _check_equal_to_checkpoints(
        micro_world / "model", tuned, tmp_path, strategy, facts, levels, cfg
    )


def test_sweep_leaves_the_tuned_model_as_it_was(tiny_llama_dir, tmp_path) -> None:
    from sftlens.models import load_model, load_tokenizer

    tuned = _tuned_dir(tiny_llama_dir, tmp_path / "tuned")
    model = load_model(tuned, "float32", "cpu")
    before = {n: p.detach().clone() for n, p in model.state_dict().items()}
    facts, levels = _synthetic_facts(8)
    plans = {"a": prepare_evaluation(load_tokenizer(tuned), facts, levels, EvaluateConfig())}
    timing: dict[str, Any] = {}
    sweep_evaluate(model, source_from_dir(tiny_llama_dir), [5, 50], "top", "all", 0, plans,
                   settings=QUIET, timing=timing)  # fmt: skip
    assert all(torch.equal(before[n], p) for n, p in model.state_dict().items())
    assert set(timing) == {"evaluate", "restore"}


def test_restore_sweep_stage_rows_equal_each_checkpoint_alone(micro_world, tmp_path) -> None:
    """``sftlens restore-sweep`` with data and mastery: its rows equal evaluating each
    checkpoint that the checkpoint mode writes for the same (strategy, k)."""
    from sftlens.config import load_config
    from sftlens.data import load_dataset
    from sftlens.models import load_model, load_tokenizer
    from sftlens.restoration.config import SweepConfig
    from sftlens.restoration.stage import run_sweep
    from sftlens.tableio import read_table, write_table

    tuned = _tuned_dir(micro_world / "model", tmp_path / "tuned")
    facts = [f for f in load_dataset(f"world:{micro_world}").facts if f.split == "test"]
    mastery = write_table(
        tmp_path / "mastery.parquet", [{"id": f.id, "level": i % 5} for i, f in enumerate(facts)]
    )
    common = {"base": str(micro_world / "model"), "tuned": str(tuned), "ks": [5, 40],
              "strategies": ["top", "bottom"], "region": "transformer", "device": "cpu"}  # fmt: skip
    evaluated = {"data": f"world:{micro_world}", "mastery": str(mastery),
                 "evaluation": {"max_new_tokens": 8}}  # fmt: skip
    run_sweep(load_config(SweepConfig, values={**common, **evaluated}), tmp_path / "eval")
    run_sweep(load_config(SweepConfig, values=common), tmp_path / "ckpt")
    rows = read_table(tmp_path / "eval" / "sweep.parquet")
    tok = load_tokenizer(tuned)
    levels = {f.id: i % 5 for i, f in enumerate(facts)}
    for strategy in common["strategies"]:
        for k in (5.0, 40.0):
            model = load_model(tmp_path / "ckpt" / f"{strategy}-k{k:g}", "float32", "cpu")
            alone = evaluate_model(model, tok, facts, levels, EvaluateConfig(max_new_tokens=8))
            found = [
                {c: r[c] for c in ("domain", "test_level", "n", "correct")}
                for r in rows
                if r["strategy"] == strategy and r["restore_k"] == k
            ]
            want = [{c: r[c] for c in ("domain", "test_level", "n", "correct")} for r in alone.rows]
            assert found == want, (strategy, k)
