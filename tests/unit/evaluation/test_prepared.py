"""prepare_evaluation / PromptEncodings: one preparation, several models, same results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sftlens.data.records import Fact
from sftlens.errors import DataError
from sftlens.evaluation import EvaluateConfig, evaluate_model, prepare_evaluation
from sftlens.evaluation.encodings import PromptEncodings

FACTS = [
    Fact("q1", "P19", "Alice", "Where was Alice born?", ("Paris",), domain="in", split="test"),
    Fact("q2", "P50", "Emma", "Who wrote Emma?", ("Jane Austen",), domain="ood", split="test"),
    Fact("q3", "P19", "Bob", "Where was Bob born?", ("Berlin",), domain="in", split="test"),
]
LEVELS = {"q1": 0, "q2": 3, "q3": 4}


class CountingTokenizer:
    """Counts calls on a real tokenizer."""

    def __init__(self, tok: Any) -> None:
        self.tok, self.calls = tok, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.tok(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tok, name)

    def __len__(self) -> int:
        return len(self.tok)


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir: Path) -> tuple[Any, Any]:
    from sftlens.models import load_model, load_tokenizer

    return load_model(tiny_llama_dir, dtype="float32", device="cpu"), load_tokenizer(tiny_llama_dir)


def test_prepared_runs_equal_evaluate_model_and_encode_once(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    cfg = EvaluateConfig(max_new_tokens=5, domains=["in"])
    counting = CountingTokenizer(tok)
    plan = prepare_evaluation(counting, FACTS, LEVELS, cfg)
    assert [f.id for f in plan.facts] == ["q1", "q3"]
    first, second = plan.run(model), plan.run(model)
    alone = evaluate_model(model, tok, FACTS, LEVELS, cfg, progress=False)
    assert first.predictions == second.predictions == alone.predictions
    assert first.rows == alone.rows and first.metrics["domains"] == alone.metrics["domains"]
    prompt_calls = counting.calls
    plan.run(model)
    assert counting.calls == prompt_calls  # the prompts are not tokenised again


def test_prepare_checks_levels_before_any_model_runs(tiny: tuple[Any, Any]) -> None:
    _, tok = tiny
    with pytest.raises(DataError):
        prepare_evaluation(tok, FACTS, {"q1": 0}, EvaluateConfig())


def test_prompt_encodings_memoise_lists_and_forward_the_rest(tiny: tuple[Any, Any]) -> None:
    _, tok = tiny
    counting = CountingTokenizer(tok)
    enc = PromptEncodings(counting)
    a = enc(["Alice was", "Bob"], add_special_tokens=True)
    b = enc(["Alice was", "Bob"], add_special_tokens=True)
    assert a is b and counting.calls == 1
    assert enc(["Alice was", "Bob"], add_special_tokens=False) is not a and counting.calls == 2
    assert enc("Alice was")["input_ids"] == tok("Alice was")["input_ids"]  # not a list: passed on
    assert counting.calls == 3
    assert len(enc) == len(tok) and enc.eos_token_id == tok.eos_token_id
    enc.some_cache = (1, 2)
    assert counting.some_cache == (1, 2)  # attributes set on the wrapper land on the tokenizer


def test_prompt_encodings_copy_and_pickle(tiny: tuple[Any, Any]) -> None:
    import copy
    import pickle

    _, tok = tiny
    enc = PromptEncodings(tok)
    enc(["Alice was"], add_special_tokens=True)
    for clone in (copy.deepcopy(enc), pickle.loads(pickle.dumps(enc))):
        assert clone(["Alice was"])["input_ids"] == tok(["Alice was"])["input_ids"]


def test_full_span_scores_the_whole_completion(tiny: tuple[Any, Any]) -> None:
    from sftlens.newline_rule import answer_line

    model, tok = tiny
    line = evaluate_model(model, tok, FACTS, LEVELS, EvaluateConfig(max_new_tokens=8), False)
    full_cfg = EvaluateConfig(max_new_tokens=8, answer_span="full")
    full = evaluate_model(model, tok, FACTS, LEVELS, full_cfg, progress=False)
    assert full.metrics["answer_span"] == "full" and line.metrics["answer_span"] == "first_line"
    for a, b in zip(line.predictions, full.predictions, strict=True):
        assert b["output"] == b["output"].strip()
        assert a["output"].strip() == answer_line(b["output"]).strip()


def test_cap_hits_are_recorded_and_warned_once_per_plan(
    tiny: tuple[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    model, tok = tiny
    plan = prepare_evaluation(tok, FACTS, LEVELS, EvaluateConfig(max_new_tokens=1))
    with caplog.at_level("WARNING", logger="sftlens.evaluation.evaluate"):
        first, _ = plan.run(model), plan.run(model)
    assert first.metrics["cap_hit_share"] > 0.25  # one token: hardly any answer ends in it
    (record,) = caplog.records
    assert "evaluate.max_new_tokens=64 evaluate.answer_span=full" in record.getMessage()
