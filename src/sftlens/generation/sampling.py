"""Seeded token sampling whose randomness belongs to the row, not to the batch.

Every completion (row) gets a 64-bit key from ``(seed, prompt text, sample index)``;
its uniform draw at decoding step ``t`` is ``splitmix64(key + t)``.  A token is
drawn by inverse-CDF sampling from the (temperature, top-k, top-p filtered)
distribution with that draw: the cumulative sum of exp((logit - max) / T) over the kept
tokens, searched for ``u`` times its total.  Rows are sampled in chunks of bounded float32
memory, so a 262k vocabulary never needs float32 copies of all rows at once.  So a row's completion does not depend on which
batch, position or order it is decoded in, and the naive reference in the tests
can reproduce it exactly.

Example::

    keys = row_keys(["Alice was born in"], n_samples=10, seed=0)   # (10,) uint64
    u = row_uniforms(keys, steps=32)                                # (10, 32) float64
    tok = pick_tokens(logits, torch.from_numpy(u[:, 0]), temperature=0.7, top_p=1.0, top_k=0)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
# float32 working memory of one chunk of sampled rows (256 MiB: 256 rows of a 262k vocabulary)
CHUNK_BYTES = 2**28


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
    float32 copy).  Sampling works on chunks of rows (:data:`CHUNK_BYTES` of float32 each),
    so its float32 buffers never span all rows x vocabulary.

    Args:
        logits: (rows, vocab) scores of the next token.
        u: (rows,) uniforms in [0, 1) (one per row); unused when greedy.
    Returns:
        (rows,) int64 token ids.
    """
    if temperature == 0.0 or u is None:
        return logits.argmax(dim=-1)
    rows, vocab = logits.shape
    step = max(1, CHUNK_BYTES // (4 * vocab))
    if rows <= step:
        return _sample_rows(logits, u, temperature, top_p, top_k)
    out = torch.empty(rows, dtype=torch.long, device=logits.device)  # (rows,)
    for start in range(0, rows, step):
        part = slice(start, start + step)
        out[part] = _sample_rows(logits[part], u[part], temperature, top_p, top_k)
    return out


def _weights(scores: torch.Tensor, temperature: float) -> torch.Tensor:
    """Unnormalised probabilities exp((s - max s) / T) as a new float32 tensor, (r, K)."""
    weights = scores.to(torch.float32, copy=True)  # (r, K): the chunk's one float32 buffer
    top = weights.amax(dim=-1, keepdim=True)  # (r, 1)
    return weights.sub_(top).div_(temperature).exp_()


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
    target = torch.minimum(target, torch.nextafter(total, torch.zeros_like(total)))
    pos = torch.searchsorted(cdf, target, right=True).clamp_(max=cdf.shape[-1] - 1)
    pos = pos.squeeze(-1)  # (r,)
    return pos if ids is None else ids.gather(-1, pos.unsqueeze(-1)).squeeze(-1)
