"""Batch planning: length-sorted prompt groups and a batch size from free memory.

Example::

    rows = auto_batch_size(model, prompt_len=16, max_new=32, n_samples=10, device=dev)  # e.g. 1600
    for group in length_batches(lengths, prompts_per_batch=rows // 10): ...
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import torch

log = logging.getLogger(__name__)

CPU_ROWS = 640  # rows decoded at once on CPU (measured: 640 is ~3x faster than 64 on tiny models)
# The row cap on GPU scales with the model: a decode step of R rows does about
# 2 x params x R FLOP; beyond STEP_FLOP (4096 rows of an 8B model) a step is
# compute-bound anyway, while a small model needs more rows before launches stop dominating.
# cap = clamp(STEP_FLOP / (2 x params), MIN_ROW_CAP, MAX_ROW_CAP).
STEP_FLOP = 2 * 8e9 * 4096
MIN_ROW_CAP = 4096
MAX_ROW_CAP = 32768
MEMORY_SHARE = 0.7  # share of free GPU memory the engine plans to use
# Set by callers that run several processes per GPU (each with
# ``torch.cuda.set_per_process_memory_fraction``) when torch has no getter for it.
FRACTION_ENV = "SFTLENS_GPU_MEMORY_FRACTION"


def length_batches(lengths: Sequence[int], prompts_per_batch: int) -> list[list[int]]:
    """Prompt indices grouped into batches, longest prompts first (little padding).

    Batches hold at most ``prompts_per_batch`` prompts and their sizes differ by at most
    one (7 prompts at 3 per batch give 3 + 2 + 2, not 3 + 3 + 1): no batch runs nearly empty.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    n_batches = -(-len(order) // max(1, prompts_per_batch))
    batches: list[list[int]] = []
    start = 0
    for b in range(n_batches):
        size = len(order) // n_batches + (b < len(order) % n_batches)
        batches.append(order[start : start + size])
        start += size
    return batches


def prefill_chunks(lengths: Sequence[int], min_rows: int) -> list[list[int]]:
    """Row indices grouped by prompt length for a chunked prefill (each chunk pads to its own max).

    Rows of equal length stay together; neighbouring lengths (longest first) merge until a
    chunk holds at least ``min_rows`` rows, and a shorter remainder joins the last chunk, so
    every chunk has ``min_rows`` rows or more, or there is one chunk.  Within a chunk rows
    keep their batch order; every index appears exactly once.
    """
    by_length: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        by_length.setdefault(n, []).append(i)
    chunks: list[list[int]] = []
    current: list[int] = []
    for n in sorted(by_length, reverse=True):
        current += by_length[n]
        if len(current) >= min_rows:
            chunks.append(sorted(current))
            current = []
    if current:
        if chunks:
            chunks[-1] = sorted(chunks[-1] + current)
        else:
            chunks.append(sorted(current))
    return chunks


def _bytes_per_row(model: Any, prompt_len: int, max_new: int, n_samples: int) -> int:
    """Memory one decoded row needs: its KV cache, its logits, its prefill share."""
    cfg = model.config
    cfg = getattr(cfg, "text_config", cfg)
    heads = cfg.num_attention_heads
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    elem = next(model.parameters()).element_size()
    kv = 2 * cfg.num_hidden_layers * kv_heads * head_dim * elem * (prompt_len + max_new)
    # the step's logits and the head's temporaries (e.g. softcapping) in the model's dtype;
    # sampling's float32 buffers are bounded per chunk of rows (sampling.CHUNK_BYTES)
    logits = cfg.vocab_size * elem * 3
    prefill = prompt_len * (cfg.hidden_size * 8 + cfg.intermediate_size * 3) * elem
    # x2: compaction (and the repeat after prefill) copies the cache
    return kv * 2 + logits + prefill // n_samples


def row_cap(params: int) -> int:
    """Most rows decoded at once for a model of ``params`` parameters (see ``STEP_FLOP``)."""
    return int(min(MAX_ROW_CAP, max(MIN_ROW_CAP, STEP_FLOP // (2 * max(1, params)))))


def memory_fraction(device: torch.device) -> float:
    """This process's share of the GPU: the least of torch's per-process memory fraction
    (``torch.cuda.get_per_process_memory_fraction``, where torch has it) and the
    environment variable ``SFTLENS_GPU_MEMORY_FRACTION`` (a float in (0, 1], when set)."""
    fraction = 1.0  # the whole device
    getter = getattr(torch.cuda, "get_per_process_memory_fraction", None)
    if getter is not None:
        fraction = float(getter(device))
    env = os.environ.get(FRACTION_ENV)
    if env:
        fraction = min(fraction, float(env))
    return fraction


def plannable_memory(device: torch.device) -> int:
    """Bytes this process may still use on ``device``.

    The device's free memory plus this process's cached (reserved, unallocated) blocks,
    and at most its per-process share (:func:`memory_fraction`) of the total minus what
    it has allocated already.
    """
    free, total = torch.cuda.mem_get_info(device)
    allocated = torch.cuda.memory_allocated(device)
    free += torch.cuda.memory_reserved(device) - allocated  # this process's cached blocks
    share = int(memory_fraction(device) * total) - allocated
    return max(0, min(free, share))


def auto_batch_size(
    model: Any, prompt_len: int, max_new: int, n_samples: int, device: torch.device
) -> int:
    """Rows (prompts x samples) to decode at once.

    On CUDA: ``MEMORY_SHARE`` of the memory this process may use (:func:`plannable_memory`,
    which respects a per-process memory fraction) divided by the per-row need (KV cache for
    the longest sequence, sampling buffers, prefill activations), capped by :func:`row_cap`
    and rounded to a multiple of ``n_samples``.  On CPU: ``CPU_ROWS``.
    """
    if device.type != "cuda":
        rows = CPU_ROWS
    else:
        free = plannable_memory(device)
        need = _bytes_per_row(model, prompt_len, max_new, n_samples)
        cap = row_cap(sum(p.numel() for p in model.parameters()))
        rows = max(1, min(cap, int(free * MEMORY_SHARE) // need))
        log.info("auto batch size: %d rows (%.1f GiB plannable)", rows, free / 2**30)
    return max(n_samples, rows // n_samples * n_samples)
