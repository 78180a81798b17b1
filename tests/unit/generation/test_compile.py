"""``GenerationConfig.compile``: decoder layers compiled for the call give the eager tokens."""

from __future__ import annotations

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
    assert all(layer._compiled_call_impl is None for layer in model.model.layers)


def test_compiled_layers_are_undone_when_generation_fails(model_tok: Any, monkeypatch: Any) -> None:
    generate_module = importlib.import_module("sftlens.generation.generate")
    model, tok = model_tok

    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("decode failed")

    monkeypatch.setattr(generate_module, "decode_batch", fail)
    with pytest.raises(RuntimeError, match="decode failed"):
        generate(model, tok, PROMPTS, GenerationConfig(max_new_tokens=2, compile=True))
    assert all(layer._compiled_call_impl is None for layer in model.model.layers)


def test_stage_configs_pass_compile_on() -> None:
    assert EvaluateConfig().compile is False and EvaluateConfig(compile=True).compile is True
    probe = ProbeConfig(model="m", data="world:w", compile=True)
    assert generation_config(probe).compile is True
