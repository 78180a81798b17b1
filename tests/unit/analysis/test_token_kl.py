"""token_kl on a tiny Llama: zero for identical models, positive after a tiny SFT, batch-invariant."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from analysis_cases import FACTS, LEVELS, MASTERY, RELATIONS

from sftlens.analysis import TokenKLConfig, check_same_tokenizer, prepare_token_kl, token_kl
from sftlens.analysis.token_kl import check_same_vocab
from sftlens.errors import DataError, SftlensError

MEASURES = ("kl_top10", "kl_full_fwd", "kl_full_rev", "logprob_shift")


def _cfg(**kw: Any) -> TokenKLConfig:
    return TokenKLConfig(**{"levels": [3, 4], **kw})


def test_identical_models_give_zero(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    res = token_kl(
        model, model, tok, FACTS, RELATIONS, LEVELS, MASTERY, _cfg(base_prompt="qa", batch_size=2)
    )
    assert [r["id"] for r in res.per_fact] == [f.id for f in FACTS]
    for row in res.per_fact:
        assert all(row[k] == pytest.approx(0.0, abs=1e-6) for k in MEASURES)
        assert row["base_rank_of_tuned_top1"] == 1
        assert row["logprob_base"] < 0
    assert [(s["test_level"], s["n"]) for s in res.summary] == [(3, 1), (4, 4)]


def test_tiny_sft_moves_the_distribution(tiny: tuple[Any, Any], tuned: Any) -> None:
    model, tok = tiny
    res = token_kl(model, tuned, tok, FACTS, RELATIONS, LEVELS, MASTERY, _cfg(base_prompt="qa"))
    for row in res.per_fact:
        for key in ("kl_top10", "kl_full_fwd", "kl_full_rev"):
            assert math.isfinite(row[key]) and row[key] > 0, (row["id"], key, row[key])
        assert row["logprob_shift"] > 0  # the SFT trained exactly these answers
    level4 = next(s for s in res.summary if s["test_level"] == 4)
    rows4 = [r for r in res.per_fact if r["level"] == 4]
    assert level4["kl_top10"] == pytest.approx(sum(r["kl_top10"] for r in rows4) / len(rows4))


def test_statement_prompt_for_base_uses_best_template(tiny: tuple[Any, Any], tuned: Any) -> None:
    model, tok = tiny
    res = token_kl(model, tuned, tok, FACTS, RELATIONS, LEVELS, MASTERY, _cfg())
    by_id = {r["id"]: r for r in res.per_fact}
    assert by_id["f1"]["base_prompt"] == "Alice lives in"  # P19 sums [3, 4, ...] -> template 1
    assert by_id["f3"]["base_prompt"] == "The capital of France is"
    assert by_id["f1"]["tuned_prompt"] == "<|question|> Where was Alice born ? <|answer|>"
    # the statement prompt changes what the base model predicts, so the numbers differ from qa
    qa = token_kl(model, tuned, tok, FACTS, RELATIONS, LEVELS, MASTERY, _cfg(base_prompt="qa"))
    assert by_id["f1"]["kl_full_fwd"] != pytest.approx(qa.per_fact[0]["kl_full_fwd"])


def test_values_do_not_depend_on_batching(tiny: tuple[Any, Any], tuned: Any) -> None:
    model, tok = tiny
    one = token_kl(model, tuned, tok, FACTS, RELATIONS, LEVELS, MASTERY, _cfg(batch_size=1))
    many = token_kl(model, tuned, tok, FACTS, RELATIONS, LEVELS, MASTERY, _cfg(batch_size=5))
    for a, b in zip(one.per_fact, many.per_fact, strict=True):
        for key in (*MEASURES, "base_rank_of_tuned_top1"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), key


def _counting_forwards(model: Any) -> list[int]:
    """A list that grows by one at every forward pass of ``model`` (batch sizes)."""
    calls: list[int] = []
    model.register_forward_hook(lambda mod, args, kw, out: calls.append(1), with_kwargs=True)
    return calls


def test_prepared_run_equals_token_kl_and_runs_the_base_once(
    tiny: tuple[Any, Any], tuned: Any
) -> None:
    model, tok = tiny
    base = copy.deepcopy(model)  # its own hook
    calls = _counting_forwards(base)
    cfg = _cfg(batch_size=2)
    prepared = prepare_token_kl(base, tok, FACTS, RELATIONS, LEVELS, MASTERY, cfg, keep_base=True)
    assert calls == []  # preparing tokenises only
    n_batches = len(prepared.batches)
    got = [prepared.run(m, progress=False) for m in (tuned, model, tuned)]
    assert len(calls) == n_batches  # the base ran once, for the first tuned model
    for result, m in zip(got, (tuned, model, tuned), strict=True):
        want = token_kl(base, m, tok, FACTS, RELATIONS, LEVELS, MASTERY, cfg, progress=False)
        assert result.per_fact == want.per_fact  # exactly, value for value
        assert result.summary == want.summary


def test_prepared_run_recomputes_the_base_when_it_does_not_fit(
    tiny: tuple[Any, Any], tuned: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    token_kl_module = importlib.import_module("sftlens.analysis.token_kl")  # the package's
    # attribute of that name is the function
    model, tok = tiny
    base = copy.deepcopy(model)
    calls = _counting_forwards(base)
    monkeypatch.setattr(token_kl_module, "KEEP_DEVICE_BYTES", 0)  # and a CPU model has no host tier
    cfg = _cfg(batch_size=2)
    prepared = prepare_token_kl(base, tok, FACTS, RELATIONS, LEVELS, MASTERY, cfg, keep_base=True)
    assert not prepared.keep_base
    first, second = (prepared.run(tuned, progress=False) for _ in range(2))
    assert len(calls) == 2 * len(prepared.batches)
    assert first.per_fact == second.per_fact


def test_level_filter_and_missing_levels(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    res = token_kl(
        model, model, tok, FACTS, RELATIONS, LEVELS, MASTERY, TokenKLConfig(base_prompt="qa")
    )
    assert {r["id"] for r in res.per_fact} == {"f1", "f2", "f3", "f5"}  # default: level 4 only
    with pytest.raises(DataError, match="1 of 5 fact ids are missing"):
        token_kl(
            model,
            model,
            tok,
            FACTS,
            RELATIONS,
            {k: v for k, v in LEVELS.items() if k != "f2"},
            MASTERY,
            _cfg(),
        )


def test_different_tokenizers_are_refused(tiny: tuple[Any, Any], tiny_llama_dir: Path) -> None:
    from sftlens.models import load_tokenizer

    model, tok = tiny
    other_tok = load_tokenizer(tiny_llama_dir)
    check_same_tokenizer(tok, other_tok)
    other_tok.add_tokens(["<|extra|>"])
    with pytest.raises(SftlensError, match="tokenizers differ"):
        check_same_tokenizer(tok, other_tok)
    bigger = copy.deepcopy(model)
    bigger.resize_token_embeddings(len(other_tok))
    with pytest.raises(SftlensError, match="different vocabularies"):
        check_same_vocab(model, bigger)
    with pytest.raises(SftlensError, match="different vocabularies"):
        token_kl(model, bigger, tok, FACTS, RELATIONS, LEVELS, MASTERY, _cfg())


def test_kept_logits_go_to_the_device_then_host_memory_then_nowhere() -> None:
    from sftlens.analysis.token_kl import KEEP_DEVICE_BYTES, KEEP_HOST_BYTES, keep_location

    gpu, cpu = torch.device("cuda", 1), torch.device("cpu")
    assert keep_location(KEEP_DEVICE_BYTES, gpu) == gpu
    assert keep_location(KEEP_DEVICE_BYTES + 1, gpu) == cpu  # host memory beside a GPU
    assert keep_location(KEEP_HOST_BYTES + 1, gpu) is None
    assert keep_location(KEEP_DEVICE_BYTES, cpu) == cpu
    assert keep_location(KEEP_DEVICE_BYTES + 1, cpu) is None  # a CPU model: host memory is its own
