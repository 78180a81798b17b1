"""Fused RMS norms for the engine (opt-in ``GenerationConfig.fuse_norms``).

An HF RMS norm runs as a chain of small kernels: Gemma 3's casts its input and weight to
float32, squares, averages, adds eps, takes the rsqrt, multiplies twice, adds one to the
weight and casts back, ten ops for each of its 109 norms: 1,090 of the 1,718 ops of one bf16
decode step of Gemma 3 270M (63%, ``bench/decode_ops.py``).  For a small model each of those
kernels costs more in launch and latency than in work.  :func:`fused_norms` compiles each
norm class's own ``forward`` once with ``torch.compile`` (one compiled function per class,
shared by all its modules; their weights are inputs, so no module compiles again) and routes
every norm module of the model through it for the duration of a ``with`` block: one compiled
call per norm, its ops fused by Inductor.

The fused reduction rounds differently from the eager chain, so logits move in their last
bits (float32 Gemma 3 270M: 1.8e-5 at most on one prompt) and a near-tied greedy
token may change; that is why it is opt-in.  Modules whose ``forward`` was already replaced
on the instance (accelerate offload hooks) are left alone; if compiling fails (no C++
compiler on CPU, no Triton on CUDA), the block runs eagerly after one warning.

Example::

    with torch.inference_mode(), fused_norms(model) as fused:
        logits = model(input_ids=ids).logits      # ``fused`` norms ran compiled
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch

log = logging.getLogger(__name__)
NORM_SUFFIX = "RMSNorm"  # HF's RMS norm classes: LlamaRMSNorm, Gemma3RMSNorm, Qwen2RMSNorm, ...
_compiled: dict[type[torch.nn.Module], Callable[..., Any]] = {}
_failed: set[type[torch.nn.Module]] = set()


def norm_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's RMS norm modules that :func:`fused_norms` may route through a compiled
    forward: classes named ``*RMSNorm`` (not torch's own fused ``nn.RMSNorm``) whose instance
    has no ``forward`` of its own."""
    builtin = getattr(torch.nn, "RMSNorm", None)
    return [
        m
        for m in model.modules()
        if type(m).__name__.endswith(NORM_SUFFIX)
        and type(m) is not builtin
        and "forward" not in vars(m)
    ]


def compiled_forward(cls: type[torch.nn.Module]) -> Callable[..., Any]:
    """``cls.forward`` compiled once per class (dynamic shapes: rows and lengths vary)."""
    if cls not in _compiled:
        _compiled[cls] = torch.compile(cls.forward, dynamic=True)
    return _compiled[cls]


def _compiles(norm: torch.nn.Module) -> bool:
    """Whether the compiled forward of ``norm``'s class runs (one call on a 2-row input);
    a failure is logged once per class."""
    cls = type(norm)
    if cls in _failed:
        return False
    weight = getattr(norm, "weight", None)
    if not isinstance(weight, torch.Tensor) or weight.dim() != 1:
        return True  # nothing to build a trial input from: the first real call compiles
    trial = torch.zeros((2, weight.shape[0]), dtype=weight.dtype, device=weight.device)  # (2, H)
    try:
        compiled_forward(cls)(norm, trial)
    except Exception as err:  # a missing compiler or an unsupported op: run eagerly
        _failed.add(cls)
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        log.warning("fuse_norms: %s runs eagerly, torch.compile failed (%s)", cls.__name__, first)
        return False
    return True


@contextlib.contextmanager
def fused_norms(model: torch.nn.Module, enabled: bool = True) -> Iterator[int]:
    """Within the block, every norm of :func:`norm_modules` runs its class's compiled forward;
    yields how many do.  On exit each module's own (eager) forward is back."""
    routed: list[torch.nn.Module] = []
    if enabled:
        checked: dict[type[torch.nn.Module], bool] = {}
        for norm in norm_modules(model):
            cls = type(norm)
            if cls not in checked:
                checked[cls] = _compiles(norm)
            if checked[cls]:
                norm.forward = functools.partial(compiled_forward(cls), norm)  # type: ignore[method-assign]
                routed.append(norm)
    try:
        yield len(routed)
    finally:
        for norm in routed:
            del norm.forward  # the instance attribute: the class's forward shows again
