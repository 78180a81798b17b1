"""Fixtures: the tiny random Llama in float64 with a newline token made likely, so rows end early."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """Tiny models run far faster on one thread than on a busy shared CPU's two."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_tok(tiny_llama_dir: Path) -> tuple[Any, Any]:
    """(model, tokenizer): float64 for exact comparisons; the newline token often wins."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sftlens.generation.stops import newline_ids

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).to(torch.float64).eval()
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    newline = newline_ids(tok)[0]
    with torch.no_grad():  # newline beats token 70 wherever token 70 would be likely
        head = model.get_output_embeddings().weight
        head[newline] = head[70] * 1.05
    return model, tok


PROMPTS = [
    "Alice was born in",
    "Bob works for Acme in",
    "The capital of France is",
    "x",
    "the quick brown fox jumps over the lazy dog",
    "Berlin is located in",
    "<|question|> Where was Alice born ? <|answer|>",
]


@pytest.fixture
def prompts() -> list[str]:
    return list(PROMPTS)


@pytest.fixture(scope="session")
def gemma_real(gemma_gguf: tuple[Path, Path]) -> tuple[Any, Any]:
    """(model, tokenizer) of Gemma 3 270M (base), fp32, from the run's one cached conversion
    of the package's GGUF (``gemma_gguf``); skips when the package or ``gguf`` is missing."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, checkpoint = gemma_gguf
    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(checkpoint)
    tok.padding_side = "left"
    return model, tok


@pytest.fixture
def newline_first(model_tok: tuple[Any, Any]) -> Any:
    """``model_tok`` answering every prompt with a newline and a space before its text: after
    a prompt's last token a newline wins, after a newline a space (a hook on the logits, so
    the engine and a naive loop see the same model).  Removed after the test."""
    import torch

    from sftlens.generation.generate import encode_prompts
    from sftlens.generation.stops import newline_ids

    model, tok = model_tok
    newline, space = newline_ids(tok)[0], tok.convert_tokens_to_ids(tok.tokenize(" "))[0]
    ends = torch.tensor(sorted({ids[-1] for ids in encode_prompts(tok, PROMPTS)}))

    def hook(module: Any, args: Any, kwargs: Any, output: Any) -> Any:
        ids = kwargs.get("input_ids", args[0] if args else None)  # (rows, L)
        logits = output.logits  # (rows, K, V): the last K positions' logits
        ids = ids[:, ids.shape[1] - logits.shape[1] :]  # (rows, K)
        logits[..., newline] += 100.0 * torch.isin(ids, ends)
        logits[..., space] += 100.0 * (ids == newline)
        return output

    handle = model.register_forward_hook(hook, with_kwargs=True)
    yield model, tok
    handle.remove()
