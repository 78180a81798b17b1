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


# --- the two-level draw (full distribution: top_k == 0, top_p == 1) -------------------------


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Blocks of 8 tokens, and the one-level sampler out of reach (it fails if called)."""
    monkeypatch.setattr(sampling, "BLOCK", 8)
    monkeypatch.setattr(sampling, "MIN_BLOCK", 8)

    def one_level(*args: Any) -> torch.Tensor:
        raise AssertionError("the one-level draw was used")

    monkeypatch.setattr(sampling, "_sample_rows", one_level)
    return monkeypatch


def uniforms(rows: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(row_uniforms(row_keys(["p"], rows, seed=seed), 1)[:, 0]).float()


def test_block_size_is_the_largest_power_of_two_dividing_the_vocabulary() -> None:
    assert sampling.block_size(262_144) == 2048
    assert sampling.block_size(3 * 256) == 256
    assert sampling.block_size(50_000) == 0  # 16 < MIN_BLOCK: the one-level draw
    assert sampling.block_size(2048) == 0  # a single block
    assert sampling.block_size(4096) == 2048


def test_top_k_and_top_p_keep_the_one_level_draw(small_blocks: pytest.MonkeyPatch) -> None:
    logits, u = torch.randn(4, 64), uniforms(4)
    assert pick_tokens(logits, u, 0.7, 1.0, 0).shape == (4,)  # two levels
    for top_p, top_k in ((0.9, 0), (1.0, 5)):
        with pytest.raises(AssertionError, match="one-level"):
            pick_tokens(logits, u, 0.7, top_p, top_k)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.7])
def test_two_level_draws_follow_the_reference_softmax(
    small_blocks: pytest.MonkeyPatch, temperature: float
) -> None:
    vocab = 64
    logits = torch.randn(vocab, generator=torch.Generator().manual_seed(5)) * 1.5
    logits[16:24] = -torch.inf  # a whole block of zero weight
    logits[[3, 40, 63]] = -torch.inf  # and single tokens, the last one included
    small_blocks.setattr(sampling, "CHUNK_BYTES", 4 * vocab * 300)  # 300 rows per chunk
    assert sampling.block_size(vocab) == 8
    ids = pick_tokens(logits.repeat(DRAWS, 1), uniforms(DRAWS, 3), temperature, 1.0, 0)
    freq = torch.bincount(ids, minlength=vocab).double() / DRAWS
    want = reference_probs(logits, temperature, 1.0, 0)
    sigma = (want * (1 - want) / DRAWS).sqrt()
    assert bool((freq[want == 0] == 0).all())  # zero-weight tokens are never drawn
    assert bool(((freq - want).abs() <= 5 * sigma + 1e-9).all()), (freq, want)


def test_two_level_chunked_rows_draw_the_same_tokens(small_blocks: pytest.MonkeyPatch) -> None:
    gen = torch.Generator().manual_seed(0)
    logits = (torch.randn(37, 512, generator=gen) * 3).to(torch.bfloat16)  # (37, 512)
    u = uniforms(37, 1)
    whole = pick_tokens(logits, u, 0.8, 1.0, 0)
    small_blocks.setattr(sampling, "CHUNK_BYTES", 4 * 512 * 5)  # 5 rows per chunk
    assert torch.equal(pick_tokens(logits, u, 0.8, 1.0, 0), whole)
    one_by_one = [int(pick_tokens(logits[i : i + 1], u[i : i + 1], 0.8, 1.0, 0)) for i in range(37)]
    assert whole.tolist() == one_by_one


def test_two_level_never_draws_a_zero_weight_token(small_blocks: pytest.MonkeyPatch) -> None:
    """-inf tokens, a block of -inf, a block whose weights underflow to 0 in float32, zero
    weight at both ends; uniforms of 0, just below 1 (float64 and float32) and in between."""
    vocab = 64
    row = torch.randn(vocab, generator=torch.Generator().manual_seed(2))
    row[:3] = -torch.inf  # the first tokens: u = 0 must skip them
    row[8:16] = -torch.inf  # a block of -inf
    row[24:32] = -200.0  # exp(-200) is 0 in float32: a block of zero weight
    row[[35, 37]] = -torch.inf
    row[50:] = -torch.inf  # the last tokens (a block and a half): u near 1 stops before them
    below_one = [1 - 2**-53, float(torch.nextafter(torch.tensor(1.0), torch.tensor(0.0)))]
    u = torch.tensor([0.0, *below_one, *torch.rand(61, generator=torch.Generator()).tolist()])
    for dtype in (torch.float64, torch.float32):
        ids = pick_tokens(row.repeat(64, 1), u.to(dtype), 1.0, 1.0, 0)  # (64,)
        assert bool((row[ids] > -100).all()), ids
        assert int(ids[0]) == 3  # u = 0: the first token of positive weight
        assert int(ids[1]) == int(ids[2]) == 49  # u just below 1: the last one


def test_held_cdf_is_flat_over_zero_weights_and_never_decreases() -> None:
    weights = torch.tensor([[1.0, 0.0, 2.0, 0.0, 0.0, 1.0]])
    scanned = torch.tensor([[1.0, 1.0000001, 3.0, 2.9999998, 3.0000002, 4.0]])  # scan rounding
    held = sampling._held_cdf(weights, scanned)
    assert held.tolist() == [[1.0, 1.0, 3.0, 3.0, 3.0, 4.0]]


def test_two_level_survives_block_sums_that_disagree_with_the_block(
    small_blocks: pytest.MonkeyPatch,
) -> None:
    """Compiled block sums round differently from the eager weights of the chosen block: the
    rest is clamped below the block's own total, and a block whose weights all vanish here
    gives the row's max token; never a zero-weight token."""
    logits = torch.zeros(1, 16)  # (1, 16): two blocks of 8
    logits[0, 6:] = -torch.inf  # block 0: tokens 0-5; block 1: nothing
    top, arg = torch.zeros(1, 1), torch.zeros(1, 1, dtype=torch.long)
    too_big = torch.tensor([[6.01, 0.0]])  # block 0 summed a little high
    u = torch.tensor([1 - 2**-20])
    assert int(sampling._draw_two_level(logits, top, arg, too_big, u, 1.0)) == 5
    phantom = torch.tensor([[6.0, 6.0]])  # block 1 has mass only in the sums
    got = sampling._draw_two_level(logits, top, arg, phantom, torch.tensor([0.75]), 1.0)
    assert int(got) == 0  # the row's max (its arg)


def test_two_level_agrees_with_the_one_level_draw(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same inverse CDF up to float rounding: the same token for nearly every row."""
    monkeypatch.setattr(sampling, "BLOCK", 256)
    rows, vocab = 5000, 4096
    logits = (torch.randn(rows, vocab, generator=torch.Generator().manual_seed(7)) * 3).to(
        torch.bfloat16
    )
    u = uniforms(rows, 4)
    two = pick_tokens(logits, u, 0.7, 1.0, 0)
    one = sampling._sample_rows(logits, u, 0.7, 1.0, 0)
    assert float((two == one).double().mean()) >= 0.999


class Float32Elements(TorchDispatchMode):
    """Records the most elements of any float32 tensor an op returns."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.dtype == torch.float32:
                self.largest = max(self.largest, t.numel())
        return out


def test_two_level_float32_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Eager: float32 rows x vocabulary for one chunk of rows at most.  The fused path (its
    compiled block sums stubbed): no float32 beyond rows x block around them."""
    vocab, rows, chunk = 16_384, 48, 8
    block = sampling.block_size(vocab)
    monkeypatch.setattr(sampling, "CHUNK_BYTES", 4 * vocab * chunk)
    logits = torch.randn(rows, vocab).to(torch.bfloat16)  # (rows, V)
    u = uniforms(rows)
    with Float32Elements() as spans:
        eager = pick_tokens(logits, u, 0.7, 1.0, 0)
    assert chunk * vocab >= spans.largest >= chunk * vocab // 2

    top = logits.max(dim=-1, keepdim=True).values
    sums = sampling._block_sums_eager(logits, top, 0.7, block)  # (rows, V / block)
    fused = sampling._CompiledBlockSums()
    fused.compiled = lambda *args: sums
    monkeypatch.setattr(sampling, "_FUSED", fused)
    monkeypatch.setattr(sampling, "_wants_fused", lambda t: True)
    with Float32Elements() as spans:
        assert torch.equal(pick_tokens(logits, u, 0.7, 1.0, 0), eager)
    assert spans.largest <= rows * block


def test_compiled_block_sums_fall_back_to_eager_once(
    small_blocks: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch = small_blocks
    logits = torch.randn(20, 256, generator=torch.Generator().manual_seed(1))
    u = uniforms(20)
    eager = pick_tokens(logits, u, 0.9, 1.0, 0)
    calls = []

    def broken(*args: Any) -> torch.Tensor:
        calls.append(1)
        raise RuntimeError("no compiler here")

    fused = sampling._CompiledBlockSums()
    fused.compiled = broken
    monkeypatch.setattr(sampling, "_FUSED", fused)
    monkeypatch.setattr(sampling, "_wants_fused", lambda t: True)
    with caplog.at_level("WARNING", logger=sampling.__name__):
        assert torch.equal(pick_tokens(logits, u, 0.9, 1.0, 0), eager)
        assert torch.equal(pick_tokens(logits, u, 0.9, 1.0, 0), eager)
    assert len(calls) == 1
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "eager" in caplog.text


def test_only_cuda_compiles_and_lazily(small_blocks: pytest.MonkeyPatch) -> None:
    """On CPU nothing is compiled; the CUDA branch compiles once, on first use, with dynamic
    shapes (``torch.compile`` stubbed: it hands the function back)."""
    compiled: list[dict[str, Any]] = []

    def fake_compile(fn: Any, **kwargs: Any) -> Any:
        compiled.append(kwargs)
        return fn

    monkeypatch = small_blocks
    monkeypatch.setattr(torch, "compile", fake_compile)
    monkeypatch.setattr(sampling, "_FUSED", sampling._CompiledBlockSums())
    logits = torch.randn(30, 512, generator=torch.Generator().manual_seed(3))
    u = uniforms(30)
    eager = pick_tokens(logits, u, 1.1, 1.0, 0)
    assert compiled == [] and not sampling._wants_fused(logits)
    monkeypatch.setattr(sampling, "_wants_fused", lambda t: True)
    for _ in range(2):
        assert torch.equal(pick_tokens(logits, u, 1.1, 1.0, 0), eager)
    assert compiled == [{"dynamic": True}]
