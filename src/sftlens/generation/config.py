"""Settings of one generation call (the engine shared by probing, evaluation and analysis).

Example::

    cfg = GenerationConfig(max_new_tokens=32, n_samples=10, temperature=0.7)
    outs = generate(model, tok, ["Alice was born in"], cfg)   # [[10 completions]]

A plain frozen dataclass (no torch import), so stage configs can build one cheaply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sftlens.errors import ConfigError
from sftlens.newline_rule import DEFAULT_ANSWER_SPAN, check_answer_span, stops_at_newline

DECODE_KERNELS = ("matmul", "sdpa", "sdpa-efficient")
KV_CACHES = ("static", "dynamic")
PREFILLS = ("bucketed", "padded")


@dataclass(frozen=True)
class GenerationConfig:
    """What to generate for each prompt.

    Attributes:
        max_new_tokens: the most tokens generated per completion.
        n_samples: completions per prompt (all share one prefill of the prompt).
        temperature: 0 means greedy (then the ``n_samples`` completions are identical).
        top_p: nucleus sampling mass (1.0 = off).
        top_k: keep only the k most likely tokens (0 = off).
        answer_span: which text is the answer (``sftlens.newline_rule``): ``first_line``
            ends a completion at the first newline after its answer text began (newlines and
            spaces before it are skipped) and keeps that line; ``full`` ends it only at EOS
            or ``max_new_tokens`` and keeps the whole text, stripped.
        batch_size: most sequences (prompts x samples) decoded at once; ``None`` = from free
            GPU memory (on CPU a constant).
        seed: sampling seed; a completion depends only on (seed, prompt text, sample index).
        ignore_eos: keep generating after EOS (benchmarks with random weights).
        backend: ``hf`` (this engine) or ``vllm`` (optional extra).
        decode_kernel: how one decode token attends (``generation/attention.py``): ``matmul``
            (two batched matmuls, the default), ``sdpa`` or ``sdpa-efficient`` (SDPA kernels).
        kv_cache: ``static`` (full-attention layers preallocated for the whole completion) or
            ``dynamic`` (HF's ``DynamicCache``, grown by concatenation each step).
        mask_sync: use HF's mask builder, which asks the GPU each decode step whether the
            mask may be skipped (a host-device sync); off by default.
        prefill: ``bucketed`` (with the static cache, prompts are encoded in chunks of rows of
            similar length, each padded only to its own longest prompt) or ``padded`` (one
            pass, every prompt padded to the batch's longest).  Same tokens either way.
        decode_graph: on CUDA, capture each batch's decode step as a CUDA graph and replay it
            (``generation/decode_steps.py``; needs every cache layer preallocated: the static
            cache, and sliding windows wider than the batch); off by default (eager steps):
            on an H200 it gained nothing consistent (docs/benchmarks.md).
        fuse_norms: run the model's RMS norms through ``torch.compile`` (one compiled call
            each instead of up to ten kernels; ``generation/fused_norms.py``); off by default:
            logits move in their last bits, so a near-tied greedy token may differ from
            ``generate``.
    """

    max_new_tokens: int = 32
    n_samples: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    answer_span: str = DEFAULT_ANSWER_SPAN
    batch_size: int | None = None
    seed: int = 0
    ignore_eos: bool = False
    backend: str = "hf"
    decode_kernel: str = "matmul"
    kv_cache: str = "static"
    mask_sync: bool = False
    prefill: str = "bucketed"
    decode_graph: bool = False
    fuse_norms: bool = False

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.n_samples < 1:
            raise ConfigError(f"n_samples must be >= 1, got {self.n_samples}")
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise ConfigError(f"temperature must be finite and >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ConfigError(f"top_k must be >= 0, got {self.top_k}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1 or None, got {self.batch_size}")
        if self.backend not in ("hf", "vllm"):
            raise ConfigError(f"unknown generation backend '{self.backend}'; choose hf or vllm")
        if self.decode_kernel not in DECODE_KERNELS:
            raise ConfigError(
                f"unknown decode_kernel '{self.decode_kernel}'; choose {', '.join(DECODE_KERNELS)}"
            )
        if self.kv_cache not in KV_CACHES:
            raise ConfigError(f"unknown kv_cache '{self.kv_cache}'; choose static or dynamic")
        try:
            check_answer_span(self.answer_span)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if self.prefill not in PREFILLS:
            raise ConfigError(f"unknown prefill '{self.prefill}'; choose bucketed or padded")

    @property
    def stop_at_newline(self) -> bool:
        """Whether a newline after answer text ends a row (the ``first_line`` span)."""
        return stops_at_newline(self.answer_span)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def rows_per_prompt(self) -> int:
        """Rows decoded per prompt: ``n_samples``, or one when greedy (its answer is copied)."""
        return 1 if self.greedy else self.n_samples
