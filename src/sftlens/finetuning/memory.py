"""Per-GPU memory plan of a fine-tune: weights, gradients, AdamW states, activations.

Example::

    shape = ModelShape.from_model(model)       # a meta-device model works too
    plan = plan_memory(shape, "fp32-master", gpus=1, kind="single", tokens=512,
                       capacity=140 * GIB)
    print(plan.summary())    # memory plan (fp32-master, 1 GPU): weights 29.9 GiB + ... = ...
    plan.check()             # ConfigError when it cannot fit

A rough, deliberately simple estimate (no allocator fragmentation model).  Bytes per
trainable parameter: ``fp32-master`` 4 (fp32 weights) + 4 (grads) + 8 (Adam m, v) and
half-precision autocast copies that live from a layer's forward to its backward (they
and the fp32 grads of later layers coexist, so the plan counts the larger of the two);
``pure`` 4 bytes × the dtype's size; ``kahan`` 2 + 2 + 4 + 2 (compensation).  FSDP
divides weights, grads and states by the GPUs and adds two gathered layers in the
compute dtype; DDP adds its gradient buckets (one gradient copy).  Activations:
``tokens × layers × (10·hidden + 4·intermediate)`` values in the compute dtype plus fp32
logits and their gradient for every token (an upper bound: only target tokens need them).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from sftlens.errors import ConfigError

log = logging.getLogger(__name__)

GIB = float(2**30)
OVERHEAD = 1.0 * GIB  # CUDA context, allocator slack

# bytes per trainable parameter: (weights, grads, optimizer states); None = the dtype's size
_MODE_BYTES: dict[str, tuple[int | None, int | None, int | None]] = {
    "fp32-master": (4, 4, 8),
    "pure": (None, None, None),
    "kahan": (2, 2, 6),
}


@dataclass(frozen=True)
class ModelShape:
    """Parameter counts and the layer shapes the activation estimate needs."""

    params: int
    trainable: int
    layers: int
    hidden: int
    intermediate: int
    vocab: int

    @classmethod
    def from_model(cls, model: Any) -> ModelShape:
        """Counts of a built model (meta-device models work: nothing is read)."""
        cfg = getattr(model, "config", None)
        ps = {id(p): p for p in model.parameters()}.values()
        return cls(
            params=sum(p.numel() for p in ps),
            trainable=sum(p.numel() for p in ps if p.requires_grad),
            layers=int(getattr(cfg, "num_hidden_layers", 1) or 1),
            hidden=int(getattr(cfg, "hidden_size", 0) or 0),
            intermediate=int(getattr(cfg, "intermediate_size", 0) or 0),
            vocab=int(getattr(cfg, "vocab_size", 0) or 0),
        )


@dataclass(frozen=True)
class MemoryPlan:
    """Bytes per GPU of each part; ``capacity`` None when no GPU size is known."""

    mode: str
    gpus: int
    kind: str
    weights: float
    grads: float
    optimizer: float
    compute_copies: float
    communication: float
    activations: float
    capacity: float | None

    @property
    def total(self) -> float:
        parts = self.weights + self.optimizer + max(self.grads, self.compute_copies)
        return parts + self.communication + self.activations + OVERHEAD

    @property
    def fits(self) -> bool:
        return self.capacity is None or self.total <= self.capacity

    def summary(self) -> str:
        def g(x: float) -> str:
            return f"{x / GIB:.1f}"

        where = "1 GPU" if self.gpus == 1 else f"{self.gpus} GPUs, {self.kind}"
        grads = f"grads {g(self.grads)}"
        if self.compute_copies:
            grads += f" (or half copies {g(self.compute_copies)}, the larger)"
        comm = {"fsdp": "FSDP gathered layers", "ddp": "DDP buckets"}.get(self.kind)
        extra = f" + {comm} {g(self.communication)}" if comm else ""
        cap = f" of {g(self.capacity)} GiB" if self.capacity is not None else ""
        return (
            f"memory plan ({self.mode}, {where}), GiB per GPU: weights {g(self.weights)} + {grads}"
            f" + AdamW states {g(self.optimizer)}{extra} + activations ~{g(self.activations)}"
            f" + overhead {g(OVERHEAD)} = {g(self.total)}{cap}"
        )

    def check(self) -> None:
        """Refuse a plan that cannot fit, in one line."""
        if not self.fits:
            assert self.capacity is not None
            raise ConfigError(
                f"fine-tune does not fit: {self.summary()}; use more GPUs with FSDP "
                "(configs/accelerate/fsdp.yaml), precision=kahan, LoRA, or a smaller batch_size"
            )


def plan_memory(
    shape: ModelShape,
    mode: str,
    *,
    gpus: int,
    kind: str,
    tokens: int,
    base_bytes: int = 2,
    compute_bytes: int = 2,
    capacity: float | None = None,
) -> MemoryPlan:
    """The plan of precision ``mode`` (resolved: fp32-master | pure | kahan) for ``gpus``
    processes of ``kind`` (single | ddp | fsdp), ``tokens`` per micro-batch per process."""
    if mode not in _MODE_BYTES:
        raise ConfigError(f"no memory plan for precision '{mode}'")
    w_b, g_b, o_b = (
        base_bytes * k if b is None else b
        for b, k in zip(_MODE_BYTES[mode], (1, 1, 2), strict=True)
    )
    frozen = shape.params - shape.trainable
    shard = gpus if kind == "fsdp" else 1
    weights = (shape.trainable * w_b + frozen * base_bytes) / shard
    grads = shape.trainable * g_b / shard
    optimizer = shape.trainable * o_b / shard
    autocast = mode == "fp32-master" and compute_bytes < 4 and kind != "fsdp"
    copies = shape.trainable * compute_bytes if autocast else 0.0  # FSDP gathers in half instead
    layer = shape.params / max(shape.layers, 1)
    # FSDP: the running and the prefetched layer, gathered; DDP: gradient buckets
    communication = 2 * layer * compute_bytes if kind == "fsdp" else grads if kind == "ddp" else 0.0
    per_token = shape.layers * (10 * shape.hidden + 4 * shape.intermediate) * compute_bytes
    activations = float(tokens) * (per_token + 8 * shape.vocab)
    return MemoryPlan(mode, gpus, kind, weights, grads, optimizer, copies, float(communication),
                      activations, capacity)  # fmt: skip


def micro_batch_tokens(lengths: list[int], batch_size: int, gpus: int) -> int:
    """Tokens of the largest micro-batch one process can get: its longest samples."""
    per_process = math.ceil(batch_size / max(gpus, 1))
    return sum(sorted(lengths, reverse=True)[:per_process])


def check_memory(
    lm: Any,
    prec: Any,
    kind: str,
    batch_size: int,
    lengths: list[int],
    device: Any,
) -> None:
    """Log the per-GPU memory plan of training ``lm`` in ``prec`` (a ``Precision``; on GPU only,
    debug level on CPU); refuse it when it cannot fit the GPU's free memory."""
    from sftlens.finetuning.parallel import world_size

    gpus = world_size() if kind != "single" else 1
    capacity = None
    import torch

    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        own = sum(p.numel() * p.element_size() for p in lm.parameters())
        # this model's weights are in place; torch's cached, unused blocks are free to reuse
        capacity = float(free + cached + own)
    mem = plan_memory(
        ModelShape.from_model(lm),
        prec.mode,
        gpus=gpus,
        kind=kind,
        tokens=micro_batch_tokens(lengths, batch_size, gpus),
        base_bytes=prec.base_dtype.itemsize,
        compute_bytes=prec.compute_dtype.itemsize,
        capacity=capacity,
    )
    log.log(logging.INFO if device.type == "cuda" else logging.DEBUG, "%s", mem.summary())
    mem.check()
