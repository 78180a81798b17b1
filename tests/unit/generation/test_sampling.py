"""The sampler on large vocabularies: chunked rows, the reference distribution, no float32 spans."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from sftlens.generation import GenerationConfig, generate, sampling
from sftlens.generation.sampling import pick_tokens, row_keys, row_uniforms

DRAWS = 20000


def reference_probs(
    logits: torch.Tensor, temperature: float, top_p: float, top_k: int
) -> torch.Tensor:
    """softmax(logits / T) restricted to the top-k, then to the nucleus, renormalised; float64."""
    probs = torch.softmax(logits.double() / temperature, dim=-1)  # (V,)
    order = probs.argsort(descending=True)
    keep = torch.zeros_like(probs, dtype=torch.bool)
    kept = order[:top_k] if top_k > 0 else order
    inner = probs[kept] / probs[kept].sum()
    before = inner.cumsum(0) - inner
    keep[kept[before < top_p]] = True
    out = probs.where(keep, torch.zeros_like(probs))
    return out / out.sum()


@pytest.mark.parametrize(
    ("temperature", "top_p", "top_k"),
    [(0.7, 1.0, 0), (1.3, 1.0, 0), (1.0, 0.8, 0), (0.9, 1.0, 3), (1.0, 0.7, 4)],
)
def test_draws_follow_the_reference_softmax(
    monkeypatch: pytest.MonkeyPatch, temperature: float, top_p: float, top_k: int
) -> None:
    vocab = 9
    logits = torch.tensor([2.0, 1.5, 1.4, 0.3, -0.2, -1.0, 0.9, -3.0, 1.1])
    monkeypatch.setattr(sampling, "CHUNK_BYTES", 4 * vocab * 7)  # 7 rows per chunk: many chunks
    u = torch.from_numpy(row_uniforms(row_keys(["p"], DRAWS, seed=3), 1)[:, 0]).float()
    ids = pick_tokens(logits.repeat(DRAWS, 1), u, temperature, top_p, top_k)  # (DRAWS,)
    freq = torch.bincount(ids, minlength=vocab).double() / DRAWS
    want = reference_probs(logits, temperature, top_p, top_k)
    sigma = (want * (1 - want) / DRAWS).sqrt()
    assert bool((freq[want == 0] == 0).all())  # filtered tokens are never drawn
    assert bool(((freq - want).abs() <= 5 * sigma + 1e-9).all()), (freq, want)


def test_chunked_rows_draw_the_same_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = torch.Generator().manual_seed(0)
    logits = (torch.randn(37, 500, generator=gen) * 3).to(torch.bfloat16)
    u = torch.from_numpy(row_uniforms(row_keys(["a", "b"], 37, seed=1)[:37], 1)[:, 0]).float()
    for top_p, top_k in ((1.0, 0), (0.9, 0), (1.0, 20)):
        whole = pick_tokens(logits, u, 0.8, top_p, top_k)
        monkeypatch.setattr(sampling, "CHUNK_BYTES", 4 * 500 * 5)  # 5 rows per chunk
        chunked = pick_tokens(logits, u, 0.8, top_p, top_k)
        monkeypatch.undo()
        assert torch.equal(whole, chunked)
    assert torch.equal(pick_tokens(logits, None, 0.0, 1.0, 0), logits.float().argmax(-1))


class Float32Spans(TorchDispatchMode):
    """Records the largest float32 tensor any op returns whose last dimension is ``vocab``."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab, self.largest = vocab, 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            is_f32 = isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.dim() >= 2
            if is_f32 and t.shape[-1] == self.vocab:
                self.largest = max(self.largest, t.numel() // self.vocab)
        return out


def test_sampling_never_holds_float32_rows_times_vocab(monkeypatch: pytest.MonkeyPatch) -> None:
    vocab, rows, chunk = 50_000, 48, 8
    monkeypatch.setattr(sampling, "CHUNK_BYTES", 4 * vocab * chunk)
    logits = torch.randn(rows, vocab).to(torch.bfloat16)  # (rows, V) in the model's dtype
    u = torch.from_numpy(row_uniforms(row_keys(["p"], rows, seed=0), 1)[:, 0]).float()
    for top_p, top_k in ((1.0, 0), (0.95, 0), (1.0, 40)):
        with Float32Spans(vocab) as spans:
            pick_tokens(logits, u, 0.7, top_p, top_k)
        assert spans.largest <= chunk  # float32 rows of one chunk at most
        assert spans.largest > 0 or top_k  # top-k turns to float32 after picking k per row


def test_engine_keeps_float32_vocab_rows_to_one_chunk(
    monkeypatch: pytest.MonkeyPatch, model_tok: tuple[Any, Any], prompts: list[str]
) -> None:
    """A bf16 model with a 50k vocabulary: prefill, decode and sampling hold float32 rows x
    vocab for one chunk of rows at most; the same seed gives the same completions twice and
    under another batch size."""
    from transformers import LlamaForCausalLM

    small, tok = model_tok
    vocab, chunk = 50_000, 4
    config = small.config.to_dict() | {"vocab_size": vocab, "torch_dtype": None, "dtype": None}
    torch.manual_seed(0)
    model = LlamaForCausalLM(type(small.config).from_dict(config)).to(torch.bfloat16).eval()
    monkeypatch.setattr(sampling, "CHUNK_BYTES", 4 * vocab * chunk)
    cfg = GenerationConfig(max_new_tokens=5, n_samples=4, temperature=0.8, batch_size=16)
    with Float32Spans(vocab) as spans:
        first = generate(model, tok, prompts, cfg)
    assert 0 < spans.largest <= chunk  # 16 rows decoded at once, float32 for 4 of them
    assert generate(model, tok, prompts, cfg) == first
    other = GenerationConfig(**{**cfg.__dict__, "batch_size": 8})
    assert generate(model, tok, prompts[::-1], other) == first[::-1]
