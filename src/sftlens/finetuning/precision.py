"""Precision modes of fine-tuning: which dtype the weights, AdamW states and compute use.

Example::

    prec = resolve_precision("auto", torch.bfloat16)   # a bf16 model
    prec.mode, prec.param_dtype, prec.compute_dtype     # 'fp32-master', float32, bfloat16
    enter_training(model, prec)      # trainable weights → fp32 masters
    ...                              # forward under torch.autocast(bfloat16), AdamW on fp32
    leave_training(model, prec)      # weights back to bf16 (what the checkpoint holds)

Modes (``FinetuneConfig.precision``):

- ``fp32-master`` (``auto`` for a bf16/fp16 model): trainable weights, gradients and AdamW
  states in fp32, matmuls under half-precision autocast; the tuned weights are rounded to
  the model's dtype once, at the end.  Updates smaller than half a bf16 ulp accumulate
  instead of being rounded away step after step.
- ``pure`` (``auto`` for an fp32 model): everything in the model's dtype.
- ``kahan``: bf16 weights and states, AdamW with Kahan-compensated updates from the
  maintained ``torch-optimi`` package (optional dependency: ``pip install torch-optimi``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sftlens.errors import ConfigError

HALF = (torch.bfloat16, torch.float16)


@dataclass(frozen=True)
class Precision:
    """A resolved precision mode.

    Attributes:
        mode: ``fp32-master`` | ``pure`` | ``kahan``.
        base_dtype: the model's dtype as loaded, and as returned / saved.
        param_dtype: dtype of the trained weights, their gradients and AdamW states.
        compute_dtype: autocast dtype of the matmuls (``param_dtype`` when no autocast).
    """

    mode: str
    base_dtype: torch.dtype
    param_dtype: torch.dtype
    compute_dtype: torch.dtype

    @property
    def autocast(self) -> bool:
        return self.compute_dtype != self.param_dtype

    @property
    def loss_scaling(self) -> bool:
        """fp16 compute needs a gradient scaler (bf16 has fp32's exponent range)."""
        return self.autocast and self.compute_dtype == torch.float16

    @property
    def accelerate_mixed_precision(self) -> str:
        """The ``Accelerator(mixed_precision=...)`` value of this mode."""
        if not self.autocast:
            return "no"
        return "bf16" if self.compute_dtype == torch.bfloat16 else "fp16"

    def describe(self) -> dict[str, str]:
        """What the logs and the manifest record."""
        dtypes = {"base_dtype": self.base_dtype, "param_dtype": self.param_dtype,
                  "compute_dtype": self.compute_dtype}  # fmt: skip
        return {"precision": self.mode} | {
            k: str(v).removeprefix("torch.") for k, v in dtypes.items()
        }


def resolve_precision(mode: str, base_dtype: torch.dtype) -> Precision:
    """The precision a run of ``mode`` uses for a model loaded in ``base_dtype``."""
    half = base_dtype in HALF
    if mode == "auto":
        mode = "fp32-master" if half else "pure"
    if mode == "fp32-master":
        return Precision(mode, base_dtype, torch.float32, base_dtype if half else torch.float32)
    if mode == "kahan":
        if base_dtype != torch.bfloat16:
            raise ConfigError(
                f"precision=kahan trains bf16 weights but the model is {base_dtype}; "
                "load it with dtype=bfloat16 or choose precision=fp32-master"
            )
        return Precision(mode, base_dtype, base_dtype, base_dtype)
    if mode == "pure":
        return Precision(mode, base_dtype, base_dtype, base_dtype)
    raise ConfigError(f"unknown precision '{mode}'; choose auto, fp32-master, pure, kahan")


def check_kahan_available() -> None:
    """One line naming the pip package when ``torch-optimi`` is missing."""
    try:
        import optimi  # noqa: F401
    except ImportError:
        raise ConfigError(
            "precision=kahan needs the torch-optimi package: pip install torch-optimi "
            "(or pip install 'sftlens[kahan]')"
        ) from None


def make_adamw(
    groups: Sequence[dict[str, Any]], lr: float, prec: Precision, device: torch.device
) -> torch.optim.Optimizer:
    """AdamW over ``groups``: torch's (fused on CUDA), or torch-optimi's with Kahan summation."""
    if prec.mode == "kahan":
        check_kahan_available()
        from optimi import AdamW

        # torch's AdamW defaults (optimi's own are betas (0.9, 0.99), eps 1e-6)
        opt: torch.optim.Optimizer = AdamW(
            list(groups), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, kahan_sum=True
        )
        return opt
    return torch.optim.AdamW(list(groups), lr=lr, fused=device.type == "cuda")


def _cast_params(params: Iterator[nn.Parameter], src: torch.dtype, dst: torch.dtype) -> None:
    for p in params:
        if p.dtype == src:
            p.data = p.data.to(dst)


def enter_training(model: nn.Module, prec: Precision) -> None:
    """Cast the trainable weights to ``param_dtype`` in place (frozen ones keep theirs)."""
    if prec.param_dtype != prec.base_dtype:
        trainable = (p for p in model.parameters() if p.requires_grad)
        _cast_params(trainable, prec.base_dtype, prec.param_dtype)


def leave_training(model: nn.Module, prec: Precision) -> None:
    """Round every weight still in ``param_dtype`` back to the model's dtype, in place."""
    if prec.param_dtype != prec.base_dtype:
        _cast_params(model.parameters(), prec.param_dtype, prec.base_dtype)


class SingleProcess:
    """The one-process stand-in for an ``Accelerator``: autocast and fp16 loss scaling,
    without creating any accelerate state."""

    num_processes, process_index, is_main_process = 1, 0, True

    def __init__(self, prec: Precision, device: torch.device) -> None:
        self.device = device
        self.precision = prec
        self.scaler = torch.amp.GradScaler(device.type) if prec.loss_scaling else None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if not self.precision.autocast:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.precision.compute_dtype)

    def backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def no_sync(self, module: nn.Module) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()


def optimizer_step(
    acc: Any, opt: torch.optim.Optimizer, params: Sequence[nn.Parameter], max_norm: float
) -> torch.Tensor | None:
    """Clip (after unscaling fp16 gradients) and step; the gradient norm before clipping.

    ``params`` are all the model's parameters (frozen ones have no gradient and are
    skipped): accelerate clips an FSDP model only when given exactly its parameter list."""
    norm = None
    if isinstance(acc, SingleProcess):
        if acc.scaler is not None:
            acc.scaler.unscale_(opt)
        if max_norm > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        if acc.scaler is not None:
            acc.scaler.step(opt)
            acc.scaler.update()
        else:
            opt.step()
        return norm
    if max_norm > 0:
        norm = acc.clip_grad_norm_(params, max_norm)  # unscales fp16 grads; DTensor-aware
    opt.step()  # accelerate's optimizer wrapper steps the scaler
    return norm
