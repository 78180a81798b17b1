"""The batched HF generation engine: shared prefill, KV cache, early-leaving rows.

For each batch of prompts (sorted by length, left-padded) the prompt is encoded
once; its KV cache (allocated once for prompt + new tokens, ``kv_cache``) is
repeated for the ``n_samples`` rows.  With the preallocated cache the prompts are
encoded in chunks of rows of similar length (``prefill="bucketed"``), each padded
only to its own longest prompt, and copied into the batch's cache right-aligned; the decode loop feeds one token per row per
step through the cache; rows that have ended (EOS, or the first newline after
their answer text began: ``generation/stops.py``) leave the batch (their cache rows are
dropped) once enough of them have finished.

Example::

    tokens = decode_batch(model, [[1, 77, 93], [1, 5]], row_keys(prompts, 10, 0), cfg, tables, pad=0)
    # (20, cfg.max_new_tokens) ids; callers use sftlens.generation.generate
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
import torch

from sftlens.generation.batching import prefill_chunks
from sftlens.generation.config import GenerationConfig
from sftlens.generation.decode_steps import forward_last, step_runner
from sftlens.generation.kv_cache import is_preallocated, new_cache, place_prefill
from sftlens.generation.sampling import pick_tokens, row_uniforms
from sftlens.generation.stops import StopTables

CUDA_CHECK_EVERY = 4  # on CUDA look at finished rows every few steps (each look syncs)
# Fewest rows in one chunk of a bucketed prefill: on CUDA enough to keep its matmuls large;
# on CPU the per-chunk overhead is small, so chunks may be smaller.
CUDA_PREFILL_MIN_ROWS = 256
CPU_PREFILL_MIN_ROWS = 32
# Most chunks of one bucketed prefill on CUDA for a model below SMALL_MODEL_PARAMS: each
# chunk is a forward pass of ~1,000 kernel launches whose host time (~10 ms) exceeds a small
# model's GPU time for it (measured on Gemma 3 270M), so its batch is cut into a few wide
# chunks (little extra padding: prompts are sorted).  A larger model's chunks are bound by
# the GPU, so it keeps narrow ones (at Llama-3-8B shape they gained 9.7% over one padded pass).
MAX_PREFILL_CHUNKS = 4
SMALL_MODEL_PARAMS = 2_000_000_000


def _left_pad(
    seqs: Sequence[Sequence[int]], pad: int, extra: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (P, L), mask (P, L + extra)) with prompts right-aligned; mask has room to grow.

    Built in numpy with one scatter (a per-row tensor copy costs ~10 µs of host time, which
    for thousands of rows stalls the GPU between prefill chunks)."""
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))  # (P,)
    width = int(lengths.max())
    flat = np.fromiter(chain.from_iterable(seqs), dtype=np.int64, count=int(lengths.sum()))  # (T,)
    rows = np.repeat(np.arange(len(seqs)), lengths)  # (T,) the row of each token
    first = np.cumsum(lengths) - lengths  # (P,) offset of each row's first token in flat
    cols = np.arange(flat.size) - first[rows] + (width - lengths)[rows]  # (T,)
    ids = np.full((len(seqs), width), pad, dtype=np.int64)  # (P, L)
    mask = np.zeros((len(seqs), width + extra), dtype=np.int64)  # (P, L + extra)
    ids[rows, cols] = flat
    mask[rows, cols] = 1
    return torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)


def _positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids of left-padded rows: 0.. over the prompt, 0 on the padding; (P, L)."""
    return (mask.cumsum(-1) - 1).clamp_(min=0)


def prefill_min_rows(rows: int, device: torch.device, params: int) -> int:
    """Fewest rows in one chunk of a bucketed prefill of ``rows`` prompts on ``device`` for a
    model of ``params`` parameters."""
    if device.type != "cuda":
        return CPU_PREFILL_MIN_ROWS
    if params >= SMALL_MODEL_PARAMS:
        return CUDA_PREFILL_MIN_ROWS
    return max(CUDA_PREFILL_MIN_ROWS, -(-rows // MAX_PREFILL_CHUNKS))


def _prefill(
    model: Any, seqs: Sequence[Sequence[int]], cfg: GenerationConfig, pad: int, device: Any
) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """Encode the prompts → (cache filled to width W, last logits (P, V), mask (P, W + steps)).

    The cache holds each prompt right-aligned, ending at column W - 1, and the mask has
    ones at [W - len, W).  Bucketed: rows are prefilled in chunks of similar length
    (:func:`prefill_chunks`), each through its own cache, then copied into the batch's.
    """
    steps = cfg.max_new_tokens
    ids, mask = _left_pad(seqs, pad, steps, device)  # (P, W), (P, W + steps)
    width = ids.shape[1]
    cache = new_cache(model, capacity=width + steps if cfg.kv_cache == "static" else None)
    chunks = [list(range(len(seqs)))]
    if cfg.prefill == "bucketed" and is_preallocated(cache):
        params = sum(p.numel() for p in model.parameters())
        chunks = prefill_chunks([len(s) for s in seqs], prefill_min_rows(len(seqs), device, params))
    if len(chunks) == 1:  # one padded pass
        logits = forward_last(model, cache, ids, mask[:, :width], _positions(mask[:, :width]))
        return cache, logits, mask
    logits = torch.empty(0)
    for chunk in chunks:
        part_ids, part_mask = _left_pad([seqs[i] for i in chunk], pad, 0, device)  # (r, w) each
        part = new_cache(model, capacity=part_ids.shape[1])
        part_logits = forward_last(
            model, part, part_ids, part_mask, _positions(part_mask)
        )  # (r, V)
        rows = torch.tensor(chunk, device=device)  # (r,) batch rows of the chunk
        place_prefill(cache, part, rows, width, len(seqs))
        if logits.numel() == 0:
            logits = part_logits.new_empty((len(seqs), part_logits.shape[1]))  # (P, V)
        logits[rows] = part_logits
        del part
    return cache, logits, mask


def _start_rows(
    model: Any,
    seqs: Sequence[Sequence[int]],
    keys: Any,
    cfg: GenerationConfig,
    pad: int,
    device: torch.device,
) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Prefill once per prompt, then one row per sample: (cache, first logits (R, V),
    mask (R, W + steps), next positions (R,), uniforms (R, steps) or ``None`` when greedy)."""
    n = 1 if keys is None else len(keys) // len(seqs)
    steps = cfg.max_new_tokens
    cache, logits, mask = _prefill(model, seqs, cfg, pad, device)  # (P, V), (P, W + steps)
    next_pos = mask[:, : mask.shape[1] - steps].sum(-1)  # (P,) prompt lengths: the next position
    if n > 1:  # share the prefill: repeat cache rows instead of re-encoding
        cache.batch_repeat_interleave(n)
        logits, mask, next_pos = (t.repeat_interleave(n, dim=0) for t in (logits, mask, next_pos))
    uniforms = None
    if keys is not None:
        uniforms = torch.from_numpy(row_uniforms(keys, steps)).to(device, torch.float32)
    return cache, logits, mask, next_pos, uniforms


def decode_batch(
    model: Any,
    seqs: Sequence[Sequence[int]],
    keys: Any,
    cfg: GenerationConfig,
    stops: StopTables,
    pad: int,
) -> torch.Tensor:
    """Generate for one batch of encoded prompts.

    Args:
        seqs: P token-id lists.
        keys: (P * n,) uint64 row keys (``None`` for greedy, then n = 1).
        stops: the (V,) tables of the stop rule (``StopRule.tables``).
    Returns:
        (P * n, max_new_tokens) int64 on CPU; entries after a row's end are junk
        (``StopRule.cut`` finds the end).
    """
    device = next(model.parameters()).device
    steps = cfg.max_new_tokens
    cache, logits, mask, next_pos, uniforms = _start_rows(model, seqs, keys, cfg, pad, device)
    rows = logits.shape[0]
    tokens = torch.zeros((rows, steps), dtype=torch.long, device=device)  # (R, steps)
    runner = step_runner(model, cache, mask, mask.shape[1] - steps, cfg.decode_graph)
    alive = torch.arange(rows, device=device)  # batch row → original row
    done = torch.zeros(rows, dtype=torch.bool, device=device)
    begun = torch.zeros(rows, dtype=torch.bool, device=device)  # answer text generated
    every = CUDA_CHECK_EVERY if device.type == "cuda" else 1
    for t in range(steps):
        u = uniforms[alive, t] if uniforms is not None else None
        nxt = pick_tokens(logits, u, cfg.temperature, cfg.top_p, cfg.top_k)  # (b,)
        tokens[alive, t] = nxt
        if t == steps - 1:
            break
        done |= stops.ends[nxt] | (begun & stops.newline[nxt])
        begun |= stops.text[nxt]
        if (t + 1) % every == 0:
            n_done = int(done.sum())
            if n_done == done.shape[0]:
                break
            if n_done and n_done * runner.compact_share >= done.shape[0]:
                keep = (~done).nonzero().squeeze(1)  # (b',)
                runner.select(keep)
                alive, next_pos, nxt, done, begun = (
                    x[keep] for x in (alive, next_pos, nxt, done, begun)
                )
        logits = runner.step(nxt, next_pos, t)  # (b, V)
        next_pos = next_pos + 1
    return tokens.cpu()
