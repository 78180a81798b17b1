"""The vLLM adapter, against a stand-in ``vllm`` module (vLLM itself is not installed here).

What is checked is sftlens' side: the sampling parameters it builds from a
GenerationConfig, per-prompt seeds, the output shape and the newline cut, and the
one-line error when vLLM is missing.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

from sftlens.errors import SftlensError
from sftlens.generation import GenerationConfig, generate
from sftlens.generation.cap_hits import CapHits
from sftlens.generation.sampling import prompt_key


@dataclass
class _Params:
    kwargs: dict[str, Any]


@dataclass
class _FakeLLM:
    """Answers every prompt with n completions "<prompt>#<i>\\nmore", the first after a
    blank line (an instruct model's leading newline); all stopped for length."""

    calls: list[tuple[list[str], list[_Params]]] = field(default_factory=list)
    llm_engine: object = object()

    def generate(self, prompts: list[str], params: list[_Params], use_tqdm: bool) -> list[Any]:
        self.calls.append((prompts, params))
        return [
            types.SimpleNamespace(
                outputs=[
                    types.SimpleNamespace(
                        text=("\n" if i == 0 else "") + f"{p}#{i}\nmore", finish_reason="length"
                    )
                    for i in range(sp.kwargs["n"])
                ]
            )
            for p, sp in zip(prompts, params, strict=True)
        ]


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    mod = types.ModuleType("vllm")
    mod.SamplingParams = lambda **kw: _Params(kw)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vllm", mod)
    return mod


def test_sampling_parameters_and_outputs(fake_vllm: types.ModuleType) -> None:
    llm = _FakeLLM()
    cfg = GenerationConfig(backend="vllm", n_samples=3, temperature=0.7, top_k=0, seed=5)
    out = generate(llm, None, ["a b", "c"], cfg)
    assert out == [["a b#0", "a b#1", "a b#2"], ["c#0", "c#1", "c#2"]]  # the newline rule
    ((prompts, params),) = llm.calls
    assert prompts == ["a b", "c"]
    first = params[0].kwargs
    assert first["n"] == 3 and first["temperature"] == 0.7 and first["top_k"] == -1
    assert "stop" not in first and first["max_tokens"] == cfg.max_new_tokens  # cut afterwards
    assert [p.kwargs["seed"] for p in params] == [prompt_key(p, 5) % (1 << 31) for p in prompts]


def test_full_span_keeps_the_whole_text_stripped(fake_vllm: types.ModuleType) -> None:
    cfg = GenerationConfig(backend="vllm", n_samples=2, temperature=0.7, answer_span="full")
    hits = CapHits()
    assert generate(_FakeLLM(), None, ["c"], cfg, cap_hits=hits) == [["c#0\nmore", "c#1\nmore"]]
    assert (hits.completions, hits.capped) == (2, 2)  # stopped for length, no newline stop


def test_first_line_completions_ended_by_a_newline_did_not_hit_the_cap(
    fake_vllm: types.ModuleType,
) -> None:
    hits = CapHits()
    cfg = GenerationConfig(backend="vllm", n_samples=2, temperature=0.7)
    generate(_FakeLLM(), None, ["c", "d"], cfg, cap_hits=hits)
    assert (hits.completions, hits.capped) == (4, 0)


def test_missing_vllm_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    with pytest.raises(SftlensError, match="needs vLLM"):
        generate("some/model", None, ["x"], GenerationConfig(backend="vllm"))
