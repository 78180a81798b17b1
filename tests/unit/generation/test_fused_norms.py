"""Fused RMS norms (``GenerationConfig.fuse_norms``): close to eager, compiled once per class,
undone on exit, eager again when compiling fails; on real Gemma weights the same greedy tokens."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import torch

from sftlens.generation import GenerationConfig, generate
from sftlens.generation import fused_norms as fused_mod
from sftlens.generation.fused_norms import fused_norms, norm_modules


def _logits(model: Any, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=ids).logits  # (B, L, V)


def test_fused_norms_match_eager_and_are_undone(model_tok: tuple[Any, Any]) -> None:
    model, _ = model_tok
    ids = torch.tensor([[1, 5, 9, 33, 70], [1, 8, 8, 2, 4]])
    eager = _logits(model, ids)
    norms = norm_modules(model)
    assert len(norms) == 2 * model.config.num_hidden_layers + 1  # two per layer and the final
    with torch.inference_mode(), fused_norms(model) as routed:
        assert routed == len(norms)
        assert all("forward" in vars(n) for n in norms)
        fused = _logits(model, ids)
    assert not any("forward" in vars(n) for n in norms)  # each module's own forward again
    torch.testing.assert_close(fused, eager, rtol=0, atol=1e-6)  # Llama norms compute in fp32
    assert torch.equal(_logits(model, ids), eager)  # and the eager numbers, bit for bit


def test_one_compiled_function_serves_every_module_of_a_class(
    model_tok: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from torch._dynamo.utils import counters

    model, _ = model_tok
    norms = norm_modules(model)
    monkeypatch.setattr(fused_mod, "_compiled", {})  # compile afresh
    torch._dynamo.reset()
    before = counters["stats"]["unique_graphs"]
    with torch.inference_mode(), fused_norms(model):
        for rows in (2, 3, 5):  # other row counts reuse the dynamic-shape graph
            _logits(model, torch.ones((rows, 4), dtype=torch.long))
    graphs = counters["stats"]["unique_graphs"] - before
    print(f"{graphs} graphs for {len(norms)} norm modules")
    assert 1 <= graphs <= 2  # the trial input's rank and the model's: not one per module
    assert set(fused_mod._compiled) == {type(n) for n in norms}


def test_a_failing_compile_runs_eagerly_with_one_warning(
    model_tok: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model, _ = model_tok
    cls = type(norm_modules(model)[0])

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("no C++ compiler\nsecond line")

    monkeypatch.setattr(fused_mod, "_compiled", {cls: broken})
    monkeypatch.setattr(fused_mod, "_failed", set())
    ids = torch.tensor([[1, 5, 9]])
    with caplog.at_level(logging.WARNING), torch.inference_mode(), fused_norms(model) as routed:
        assert routed == 0
        out = _logits(model, ids)
    torch.testing.assert_close(out, _logits(model, ids), rtol=0, atol=0)
    warnings = [r.getMessage() for r in caplog.records if "fuse_norms" in r.getMessage()]
    assert warnings == [
        f"fuse_norms: {cls.__name__} runs eagerly, torch.compile failed (no C++ compiler)"
    ]


def test_a_module_with_its_own_forward_is_left_alone(model_tok: tuple[Any, Any]) -> None:
    model, _ = model_tok
    norm = norm_modules(model)[0]
    own = norm.forward  # a bound method stored on the instance, as an offload hook does
    norm.forward = own  # type: ignore[method-assign]
    try:
        assert norm not in norm_modules(model)
        with fused_norms(model):
            assert norm.forward is own
        assert norm.forward is own
    finally:
        del norm.forward


def test_off_changes_nothing(model_tok: tuple[Any, Any]) -> None:
    model, _ = model_tok
    assert GenerationConfig().fuse_norms is False
    with fused_norms(model, enabled=False) as routed:
        assert routed == 0
        assert not any("forward" in vars(n) for n in norm_modules(model))


def test_real_gemma_greedy_answers_equal_with_fused_norms(gemma_real: tuple[Any, Any]) -> None:
    """On real weights (fp32) the fused norms move logits by ~1e-5 and leave the greedy tokens
    of these prompts as they are."""
    model, tok = gemma_real
    prompts = [
        "<|question|> Where was Barack Obama born? <|answer|>",
        "The capital of France is",
        "<|question|> Who wrote Hamlet? <|answer|>",
        "The Eiffel Tower is located in the city of",
    ]
    eager = generate(model, tok, prompts, GenerationConfig(max_new_tokens=8))
    fused = generate(model, tok, prompts, GenerationConfig(max_new_tokens=8, fuse_norms=True))
    assert fused == eager
    assert sum(len(o[0]) for o in eager) > 4 * len(prompts)  # real answers, not empty ones


@pytest.mark.parametrize("arch", ["llama", "gemma3_text"])
def test_fused_norms_over_fixed_buffers_give_the_fused_eager_tokens(
    arch: str,
    model_tok: tuple[Any, Any],
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a GPU run with ``decode_graph`` and ``fuse_norms`` decodes through (the graph's
    fixed buffers, run eagerly here) gives the tokens of fused norms with eager steps."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sftlens.generation import decode_steps, engine
    from support.arch_models import MIXED_PROMPTS, build_tiny_arch

    model, tok = model_tok
    if arch != "llama":
        path = build_tiny_arch(arch, tmp_path / arch)
        model = AutoModelForCausalLM.from_pretrained(path).to(torch.float64).eval()
        tok = AutoTokenizer.from_pretrained(path)
    cfg = GenerationConfig(max_new_tokens=6, batch_size=4, fuse_norms=True)
    want = generate(model, tok, MIXED_PROMPTS[:6], cfg)
    made: list[Any] = []

    def fixed(model: Any, cache: Any, mask: torch.Tensor, width: int, _: bool) -> Any:
        made.append(decode_steps.GraphedSteps(model, cache, mask, width, graph=False))
        return made[-1]

    monkeypatch.setattr(engine, "step_runner", fixed)
    assert generate(model, tok, MIXED_PROMPTS[:6], cfg) == want
    assert made
