"""``GenerationConfig.compile``: the layers' parts around attention, compiled for the call,
give the eager tokens, with one graph for all layers."""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import pytest

from sftlens.evaluation import EvaluateConfig
from sftlens.generation import GenerationConfig, generate
from sftlens.probing.config import ProbeConfig
from sftlens.probing.probe import generation_config

PROMPTS = ["Ada was born in", "Bo", "Where was Ada born ? Rome . Who does", "x y", "Lima"]


def test_compiled_layers_give_the_eager_tokens_and_are_undone(model_tok: Any) -> None:
    model, tok = model_tok
    eager = GenerationConfig(max_new_tokens=4, stop_at_newline=False, ignore_eos=True)
    compiled = GenerationConfig(
        max_new_tokens=4, stop_at_newline=False, ignore_eos=True, compile=True
    )
    expected = generate(model, tok, PROMPTS, eager)
    assert generate(model, tok, PROMPTS, compiled) == expected
    assert all(getattr(m, "_compiled_call_impl", None) is None for m in model.modules())


def test_compiled_layers_are_undone_when_generation_fails(model_tok: Any, monkeypatch: Any) -> None:
    generate_module = importlib.import_module("sftlens.generation.generate")
    model, tok = model_tok

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("decode failed")

    monkeypatch.setattr(generate_module, "decode_batch", fail)
    with pytest.raises(RuntimeError, match="decode failed"):
        generate(model, tok, PROMPTS, GenerationConfig(max_new_tokens=2, compile=True))
    assert all(getattr(m, "_compiled_call_impl", None) is None for m in model.modules())


def test_attention_stays_eager_and_deep_models_share_graphs(monkeypatch: Any) -> None:
    """Norms and MLP are compiled, attention (it updates the KV cache) is not; 10 layers,
    more than dynamo's recompile limit, compile to a few graphs, not one per layer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from support.arch_models import tiny_tokenizer

    tok = tiny_tokenizer(256, " ".join(PROMPTS * 20))
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                      num_hidden_layers=10, num_attention_heads=4, num_key_value_heads=2)  # fmt: skip
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    generate_module = importlib.import_module("sftlens.generation.generate")
    seen: list[tuple[bool, bool]] = []
    decode = generate_module.decode_batch

    def spy(m: Any, *args: Any) -> Any:
        layer = m.model.layers[0]
        seen.append((layer.mlp._compiled_call_impl is not None,
                     layer.self_attn._compiled_call_impl is not None))  # fmt: skip
        return decode(m, *args)

    monkeypatch.setattr(generate_module, "decode_batch", spy)
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    gen = GenerationConfig(max_new_tokens=3, stop_at_newline=False, ignore_eos=True)
    expected = generate(model, tok, PROMPTS, gen)
    assert generate(model, tok, PROMPTS, dataclasses.replace(gen, compile=True)) == expected
    assert seen[-1] == (True, False)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs < 10


def test_stage_configs_pass_compile_on() -> None:
    assert EvaluateConfig().compile is False and EvaluateConfig(compile=True).compile is True
    probe = ProbeConfig(model="m", data="world:w", compile=True)
    assert generation_config(probe).compile is True
