"""Progress that moves: ``generate`` advances a bar per batch, counted in completions."""

from __future__ import annotations

from typing import Any

from sftlens.generation import GenerationConfig, generate


class Bar:
    def __init__(self) -> None:
        self.steps: list[float] = []

    def update(self, n: float | None = 1) -> None:
        self.steps.append(n or 0)


def test_a_callers_bar_moves_per_batch_by_completions(model_tok: tuple[Any, Any]) -> None:
    model, tok = model_tok
    prompts = ["Alice was born in", "Bob lives in", "Carol works at", "Dan met"]
    bar = Bar()
    cfg = GenerationConfig(max_new_tokens=2, n_samples=3, temperature=0.7, batch_size=3)
    out = generate(model, tok, prompts, cfg, progress=bar)
    assert len(out) == 4 and all(len(o) == 3 for o in out)
    assert len(bar.steps) == 4  # one prompt (3 rows) per batch of 3 rows
    assert sum(bar.steps) == 12  # every completion counted once


def test_probe_total_counts_completions() -> None:
    from sftlens.data.records import Fact, Relation
    from sftlens.probing.config import ProbeConfig
    from sftlens.probing.probe import expected_completions

    rel = Relation(id="P19", name="born", question_template="Where was {subject} born?",
                   statement_templates=("{subject} was born in", "{subject} is from", "{subject} x"),
                   domain="in")  # fmt: skip
    facts = [Fact(id=str(i), relation="P19", subject="A", question="Where was A born?",
                  answers=("B",), aliases=("B",), domain="in", split="test") for i in range(4)]  # fmt: skip
    cfg = ProbeConfig(model="m", data="d", samples=5)
    assert expected_completions(facts, {"P19": rel}, cfg) == 4 * 3 * 5
    assert expected_completions(facts, {"P19": rel}, cfg.model_copy(update={"templates": 2})) == 40
    assert expected_completions(facts, {"P19": rel}, cfg.model_copy(update={"greedy": True})) == 12
