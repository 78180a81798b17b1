"""Several processes for one fine-tune: DDP or FSDP2 through accelerate, and launch checks.

Example::

    kind = parallel_kind(cfg.parallel)             # 'single' | 'ddp' | 'fsdp'
    acc = make_accelerator(kind, prec, device, lm)  # an Accelerator, or SingleProcess
    loss_mod, opt = acc.prepare(loss_mod, opt)      # FSDP2 needs both together
    ...
    tuned = gathered_lm(acc, loss_mod, kind, template)  # the plain HF model (rank 0 for FSDP)

``parallel=auto`` follows the launcher: one process → single; ``accelerate launch`` with
an FSDP config (``ACCELERATE_USE_FSDP``) → FSDP; any other process group → DDP.
``parallel=none`` trains in this process alone even inside a process group (a study
that spreads cells over ranks).  FSDP wraps the decoder layer classes named by the
accelerate config (``fsdp_transformer_layer_cls_to_wrap``) or, when it names none, the
model's ``_no_split_modules``; each must exist in the model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sftlens.errors import ConfigError
from sftlens.finetuning.precision import Precision, SingleProcess

WRAP_ENV = "FSDP_TRANSFORMER_CLS_TO_WRAP"


def world_size() -> int:
    """Processes of the launcher's group (``WORLD_SIZE``; 1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process(parallel: str) -> bool:
    """Whether this process writes the shared outputs (rank 0, or any rank when alone)."""
    return parallel == "none" or int(os.environ.get("RANK", "0")) == 0


def parallel_kind(parallel: str) -> str:
    """``single`` | ``ddp`` | ``fsdp`` for the config value ``parallel`` and the launcher."""
    if parallel == "none" or world_size() <= 1:
        return "single"
    fsdp_env = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    if parallel == "ddp" and fsdp_env:
        raise ConfigError("parallel=ddp but the accelerate config is an FSDP one; use ddp.yaml")
    if parallel == "auto":
        return "fsdp" if fsdp_env else "ddp"
    return parallel


def wrap_classes(model: nn.Module) -> list[str]:
    """Decoder layer classes FSDP shards one by one; every one must exist in ``model``."""
    named = os.environ.get(WRAP_ENV, "")
    source = "the accelerate config's fsdp_transformer_layer_cls_to_wrap"
    names = [n.strip() for n in named.split(",") if n.strip()]
    if not names:
        names = list(getattr(model, "_no_split_modules", None) or [])
        source = f"{type(model).__name__}._no_split_modules"
    if not names:
        raise ConfigError(
            f"{type(model).__name__} names no decoder layer class (_no_split_modules); "
            "set fsdp_transformer_layer_cls_to_wrap in the accelerate config"
        )
    present = {type(m).__name__ for m in model.modules()}
    missing = [n for n in names if n not in present]
    if missing:
        raise ConfigError(
            f"FSDP wrap class {', '.join(missing)} (from {source}) is not in "
            f"{type(model).__name__}; its decoder layers are {', '.join(_layer_classes(model))}"
        )
    return names


def _layer_classes(model: nn.Module) -> list[str]:
    names = list(getattr(model, "_no_split_modules", None) or [])
    present = {type(m).__name__ for m in model.modules()}
    return [n for n in names if n in present] or sorted(n for n in present if "Layer" in n)


def make_accelerator(kind: str, prec: Precision, device: torch.device, lm: nn.Module) -> Any:
    """``SingleProcess`` for one process, else an ``Accelerator`` (DDP or FSDP2)."""
    if kind == "single":
        return SingleProcess(prec, device)
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()  # a study fine-tunes many times in one process group
    kwargs: dict[str, Any] = {
        "cpu": device.type == "cpu",
        "mixed_precision": prec.accelerate_mixed_precision,
    }
    if kind == "fsdp":
        if device.type != "cuda":
            raise ConfigError("parallel=fsdp needs CUDA GPUs (accelerate runs FSDP on GPUs only)")
        kwargs["fsdp_plugin"] = fsdp_plugin(prec, lm)
    return Accelerator(**kwargs)


def fsdp_plugin(prec: Precision, lm: nn.Module) -> Any:
    """accelerate's FSDP2 plugin: the model's decoder layers wrapped one by one, a full
    state dict for saving; under autocast, weights gathered in the compute dtype and
    gradients reduced in fp32 (the fp32 masters get fp32 gradients, as in one process)."""
    from accelerate.utils import FullyShardedDataParallelPlugin

    policy = None
    if prec.autocast:
        from torch.distributed.fsdp import MixedPrecisionPolicy

        policy = MixedPrecisionPolicy(param_dtype=prec.compute_dtype, reduce_dtype=torch.float32)
    return FullyShardedDataParallelPlugin(
        fsdp_version=2,
        auto_wrap_policy="transformer_based_wrap",
        transformer_cls_names_to_wrap=wrap_classes(lm),
        state_dict_type="FULL_STATE_DICT",
        cpu_ram_efficient_loading=False,
        mixed_precision_policy=policy,
    )


@dataclass(frozen=True)
class ModelTemplate:
    """What rebuilds a plain HF model from a gathered state dict: class, config, buffers."""

    cls: type
    config: Any
    buffers: dict[str, torch.Tensor]

    @classmethod
    def of(cls, lm: nn.Module) -> ModelTemplate:
        buffers = {n: b.detach().clone() for n, b in lm.named_buffers()}
        return cls(type(lm), getattr(lm, "config", None), buffers)


def rebuild_model(
    template: ModelTemplate, state: dict[str, torch.Tensor], device: torch.device
) -> nn.Module:
    """A plain (unsharded) model of ``template`` holding ``state``, on ``device``."""
    with torch.device("meta"):
        model: Any = template.cls(template.config)
    missing = set(model.state_dict()) - set(state)
    tied = getattr(template.config, "tie_word_embeddings", False)
    if missing and not tied:
        raise RuntimeError(f"gathered state dict lacks {sorted(missing)[:3]}")
    model.load_state_dict(state, strict=False, assign=True)
    for name, buf in template.buffers.items():
        owner, _, attr = name.rpartition(".")
        module = model.get_submodule(owner) if owner else model
        module.register_buffer(attr, buf, persistent=attr not in module._non_persistent_buffers_set)
    if tied and hasattr(model, "tie_weights"):
        model.tie_weights()
    return model.to(device)


def gathered_lm(
    acc: Any, loss_mod: nn.Module, kind: str, template: ModelTemplate, dtype: torch.dtype
) -> nn.Module | None:
    """The trained LM as a plain HF model: FSDP gathers the full state dict to rank 0
    (a collective: every rank must call this), rounds it to ``dtype`` on the CPU, and only
    rank 0 gets a model."""
    if kind != "fsdp":
        return acc.unwrap_model(loss_mod).lm  # type: ignore[no-any-return]
    state = acc.get_state_dict(loss_mod)  # full, on CPU, rank 0 only
    if not acc.is_main_process:
        return None
    lm_state = {
        k.removeprefix("lm."): v.to(dtype) if v.is_floating_point() else v
        for k, v in state.items()
        if k.startswith("lm.")
    }
    return rebuild_model(template, lm_state, acc.device)
