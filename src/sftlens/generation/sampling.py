"""Seeded token sampling whose randomness belongs to the row, not to the batch.

Every completion (row) gets a 64-bit key from ``(seed, prompt text, sample index)``;
its uniform draw at decoding step ``t`` is ``splitmix64(key + t)``.  A token is
drawn by inverse-CDF sampling from the (temperature, top-k, top-p filtered)
distribution with that draw: the cumulative sum of exp((logit - max) / T) over the kept
tokens, searched for ``u`` times its total.

Full-distribution sampling (``top_k == 0``, ``top_p == 1``: the paper's probe) draws in two
levels when the vocabulary splits into blocks of :func:`block_size` tokens (the largest power
of two <= :data:`BLOCK` dividing it, at least :data:`MIN_BLOCK`): the row max, then per block
the sum of exp((logit - max) / T) (on CUDA one ``torch.compile`` kernel that reads the logits
once, with no float32 rows x vocabulary), the cumulative block sums searched for ``u`` times
their total, then the cumulative weights of the chosen block's tokens searched for the rest.
Zero-weight tokens (``-inf`` or underflowing logits) are never drawn.  Other sampling, and the
eager two-level draw (CPU, or when compiling fails), works on chunks of rows of bounded
float32 memory (:data:`CHUNK_BYTES`), so a 262k vocabulary never needs float32 copies of all
rows at once.  So a row's completion does not depend on which batch, position or order it is
decoded in, and the naive reference in the tests can reproduce it exactly.

Example::

    keys = row_keys(["Alice was born in"], n_samples=10, seed=0)   # (10,) uint64
    u = row_uniforms(keys, steps=32)                                # (10, 32) float64
    tok = pick_tokens(logits, torch.from_numpy(u[:, 0]), temperature=0.7, top_p=1.0, top_k=0)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence

import numpy as np
import torch

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
# float32 working memory of one chunk of sampled rows (256 MiB: 256 rows of a 262k vocabulary)
CHUNK_BYTES = 2**28
# tokens per block of the two-level draw: the largest power of two <= BLOCK dividing the
# vocabulary (262,144 -> 2048); below MIN_BLOCK (or a single block) the one-level draw is used
BLOCK = 2048
MIN_BLOCK = 64

log = logging.getLogger(__name__)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, vectorised over a uint64 array (wraps mod 2**64)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def prompt_key(prompt: str, seed: int) -> int:
    """A stable 64-bit key of ``(seed, prompt)`` (blake2b, independent of PYTHONHASHSEED)."""
    digest = hashlib.blake2b(f"{seed}\x00{prompt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def row_keys(prompts: Sequence[str], n_samples: int, seed: int) -> np.ndarray:
    """Keys of the rows ``prompt0/sample0, prompt0/sample1, ...`` → shape (P * n,) uint64."""
    base = np.array([prompt_key(p, seed) for p in prompts], dtype=np.uint64)  # (P,)
    samples = np.arange(n_samples, dtype=np.uint64)  # (n,)
    with np.errstate(over="ignore"):
        mixed = splitmix64(base[:, None] ^ splitmix64(samples)[None, :] * _GOLDEN)  # (P, n)
    return mixed.reshape(-1)


def row_uniforms(keys: np.ndarray, steps: int) -> np.ndarray:
    """Uniforms in [0, 1) per row and step → shape (rows, steps) float64."""
    with np.errstate(over="ignore"):
        counters = keys[:, None] + np.arange(steps, dtype=np.uint64)[None, :] * _GOLDEN
    bits = splitmix64(counters) >> np.uint64(11)  # 53 random bits
    return bits.astype(np.float64) * (1.0 / (1 << 53))


def pick_tokens(
    logits: torch.Tensor, u: torch.Tensor | None, temperature: float, top_p: float, top_k: int
) -> torch.Tensor:
    """Next token per row: argmax when ``temperature == 0``, else inverse-CDF sampling.

    Greedy takes the argmax of the logits in their own dtype (exactly the argmax of their
    float32 copy).  Full-distribution sampling draws in two levels (blocks, then a block's
    tokens) where :func:`block_size` allows; on CUDA its block sums are one compiled kernel
    over all rows.  Otherwise sampling works on chunks of rows (:data:`CHUNK_BYTES` of
    float32 each), so its float32 buffers never span all rows x vocabulary.

    Args:
        logits: (rows, vocab) scores of the next token.
        u: (rows,) uniforms in [0, 1) (one per row); unused when greedy.
    Returns:
        (rows,) int64 token ids.
    """
    if temperature == 0.0 or u is None:
        return logits.argmax(dim=-1)
    rows, vocab = logits.shape
    block = block_size(vocab) if top_k == 0 and top_p >= 1.0 else 0
    if block and _wants_fused(logits) and not _FUSED.broken:
        top, arg = logits.max(dim=-1, keepdim=True)  # (rows, 1) each, in the logits' dtype
        sums = _FUSED(logits, top, temperature, block)  # (rows, V / block) float32, or None
        if sums is not None:
            return _draw_two_level(logits, top, arg, sums, u, temperature)

    def draw(part: torch.Tensor, u_part: torch.Tensor) -> torch.Tensor:
        if block:
            return _two_level_eager(part, u_part, temperature, block)
        return _sample_rows(part, u_part, temperature, top_p, top_k)

    step = max(1, CHUNK_BYTES // (4 * vocab))
    if rows <= step:
        return draw(logits, u)
    out = torch.empty(rows, dtype=torch.long, device=logits.device)  # (rows,)
    for start in range(0, rows, step):
        part = slice(start, start + step)
        out[part] = draw(logits[part], u[part])
    return out


def block_size(vocab: int) -> int:
    """Tokens per block of the two-level draw: the largest power of two <= :data:`BLOCK`
    dividing ``vocab``; 0 (one-level draw) when that is below :data:`MIN_BLOCK` or when the
    vocabulary would be a single block."""
    block = min(BLOCK, vocab & -vocab)  # vocab & -vocab: the largest power of two dividing it
    return block if block >= MIN_BLOCK and vocab // block >= 2 else 0


def _wants_fused(logits: torch.Tensor) -> bool:
    """Whether the block sums run compiled: on CUDA only (compiling on CPU does not pay)."""
    return logits.is_cuda


def _block_sums_eager(
    logits: torch.Tensor, top: torch.Tensor, temperature: float, block: int
) -> torch.Tensor:
    """Sums of exp((l - m) / T) per block: logits (r, V), top (r, 1) → (r, V / block) float32.

    One float32 (r, V) buffer, updated in place: callers bound ``r`` to a chunk of rows.
    """
    weights = _exp_scaled(logits, top, temperature)  # (r, V): the chunk's one float32 buffer
    return weights.view(weights.shape[0], -1, block).sum(dim=-1)  # (r, V / block)


def _exp_sums(blocks: torch.Tensor, top: torch.Tensor, temperature: float) -> torch.Tensor:
    """The block sums as one expression for ``torch.compile`` (a single read of the logits):
    blocks (r, V / B, B), top (r, 1) → (r, V / B) float32."""
    peak = top.to(torch.float32).unsqueeze(-1)  # (r, 1, 1)
    return torch.exp((blocks.to(torch.float32) - peak) / temperature).sum(dim=-1)


class _CompiledBlockSums:
    """Block sums compiled by ``torch.compile(dynamic=True)`` on first use (rows and blocks
    symbolic, the block's size a constant); after one failure (compiling or running) it logs
    a warning once and answers ``None`` from then on, so callers use the eager sums."""

    def __init__(self) -> None:
        self.compiled: Callable[..., torch.Tensor] | None = None
        self.broken = False

    def __call__(
        self, logits: torch.Tensor, top: torch.Tensor, temperature: float, block: int
    ) -> torch.Tensor | None:
        if self.broken:
            return None
        try:
            if self.compiled is None:
                self.compiled = torch.compile(_exp_sums, dynamic=True)
            blocks = logits.reshape(logits.shape[0], -1, block)  # (r, V / B, B), a view
            torch._dynamo.mark_static(blocks, 2)  # a constant reduction length
            return self.compiled(blocks, top, temperature)
        except Exception as err:  # any compiler or kernel error: the eager sums still work
            self.broken = True
            log.warning("compiled block sums failed, sampling uses eager torch: %r", err)
            return None


_FUSED = _CompiledBlockSums()


def _two_level_eager(
    logits: torch.Tensor, u: torch.Tensor, temperature: float, block: int
) -> torch.Tensor:
    """The two-level draw of a chunk of rows in eager torch: logits (r, V), u (r,) → (r,)."""
    top, arg = logits.max(dim=-1, keepdim=True)  # (r, 1) each, exact in the logits' dtype
    sums = _block_sums_eager(logits, top, temperature, block)  # (r, V / block)
    return _draw_two_level(logits, top, arg, sums, u, temperature)


def _held_cdf(weights: torch.Tensor, cdf: torch.Tensor) -> torch.Tensor:
    """The cumulative sums ``cdf`` (r, K) of ``weights``, held flat over zero weights and
    never decreasing.

    A parallel scan (CUDA) need not add a zero exactly, so a zero-weight entry is given the
    running maximum of the entries before it: a search then never stops on it.
    """
    return cdf.masked_fill(weights <= 0, 0.0).cummax(dim=-1).values  # (r, K)


def _below(value: torch.Tensor, limit: torch.Tensor) -> torch.Tensor:
    """``value`` clamped strictly below ``limit`` (the float before it; 0 stays 0)."""
    return torch.minimum(value, torch.nextafter(limit, torch.zeros_like(limit)))


def _draw_two_level(
    logits: torch.Tensor,
    top: torch.Tensor,
    arg: torch.Tensor,
    sums: torch.Tensor,
    u: torch.Tensor,
    temperature: float,
) -> torch.Tensor:
    """Search the block sums, then the chosen block's tokens, for ``u`` times the total.

    Args:
        logits: (r, V) scores; top, arg: (r, 1) their row max and its index.
        sums: (r, V / B) sums of exp((l - max) / T) per block of B tokens.
        u: (r,) uniforms in [0, 1).
    Returns:
        (r,) int64 token ids, each of positive weight.
    """
    n_blocks = sums.shape[-1]
    block = logits.shape[-1] // n_blocks
    cdf = _held_cdf(sums, sums.cumsum(dim=-1))  # (r, nb)
    total = cdf[:, -1:]  # (r, 1)
    target = _below(u.to(cdf.device, cdf.dtype).unsqueeze(-1) * total, total)  # (r, 1)
    chosen = torch.searchsorted(cdf, target, right=True).clamp_(max=n_blocks - 1)  # (r, 1)
    before = cdf.gather(-1, (chosen - 1).clamp_(min=0)).masked_fill_(chosen == 0, 0.0)
    cols = chosen * block + torch.arange(block, device=logits.device)  # (r, B) token ids
    weights = _exp_scaled(logits.gather(-1, cols), top, temperature)  # (r, B) chosen block
    inner = _held_cdf(weights, weights.cumsum(dim=-1))  # (r, B)
    last = inner[:, -1:]  # (r, 1)
    rest = _below((target - before).clamp_(min=0.0), last)  # (r, 1) in [0, last)
    pos = torch.searchsorted(inner, rest, right=True).clamp_(max=block - 1)  # (r, 1)
    # a block whose weights all round to 0 here (while its sum did not) takes the row's max
    return torch.where(last > 0, cols.gather(-1, pos), arg).squeeze(-1)  # (r,)


def _exp_scaled(scores: torch.Tensor, top: torch.Tensor, temperature: float) -> torch.Tensor:
    """exp((s - top) / T) as a new float32 tensor: scores (r, K), top (r, 1) → (r, K)."""
    weights = scores.to(torch.float32, copy=True)  # (r, K): the one float32 buffer
    return weights.sub_(top.to(torch.float32)).div_(temperature).exp_()


def _weights(scores: torch.Tensor, temperature: float) -> torch.Tensor:
    """Unnormalised probabilities exp((s - max s) / T) as a new float32 tensor, (r, K)."""
    return _exp_scaled(scores, scores.amax(dim=-1, keepdim=True), temperature)  # max: exact


def _sample_rows(
    logits: torch.Tensor, u: torch.Tensor, temperature: float, top_p: float, top_k: int
) -> torch.Tensor:
    """Inverse-CDF draws for a chunk of rows: logits (r, V), u (r,) → (r,) ids."""
    if top_k > 0:  # top-k (then top-p within it) on the logits' own dtype: the same order
        scores, ids = logits.topk(min(top_k, logits.shape[-1]), dim=-1)  # sorted, (r, k)
    elif top_p < 1.0:
        scores, ids = logits.sort(dim=-1, descending=True)  # (r, V)
    else:
        scores, ids = logits, None
    weights = _weights(scores, temperature)  # (r, K)
    if top_p < 1.0:
        cdf = weights.cumsum(dim=-1)  # (r, K)
        before = cdf - weights  # mass of strictly more likely tokens
        # keeps at least the top token (its "before" is 0)
        weights.masked_fill_(before >= top_p * cdf[:, -1:], 0.0)
        del cdf, before
    cdf = weights.cumsum_(dim=-1)  # (r, K), in place
    total = cdf[:, -1:]  # (r, 1)
    target = u.to(cdf.device, cdf.dtype).unsqueeze(-1) * total  # (r, 1)
    # strictly below the total, so rounding never lands on a trailing zero-probability token
    target = _below(target, total)
    pos = torch.searchsorted(cdf, target, right=True).clamp_(max=cdf.shape[-1] - 1)
    pos = pos.squeeze(-1)  # (r,)
    return pos if ids is None else ids.gather(-1, pos.unsqueeze(-1)).squeeze(-1)
