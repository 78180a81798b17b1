"""Checks of a fine-tune that run before the model loads, and its memory plan from config.json.

Example::

    plan = preflight(cfg, token_lengths)   # one-line ConfigError on bad launch / dtype / FSDP
    print(plan.summary())                  # what ``sftlens finetune --plan`` prints

Checked: more processes on this host than visible GPUs (an accelerate config's
``num_processes``), a dtype the GPU lacks (bf16 before compute capability 8.0), an FSDP
wrap class the model does not have, ``precision=kahan`` without ``torch-optimi``, and a
plan that cannot fit the GPU.  The model is built on the meta device from its
``config.json`` (no weights are read).
"""

from __future__ import annotations

import os
from typing import Any

from sftlens.errors import ConfigError
from sftlens.finetuning.config import FinetuneConfig
from sftlens.finetuning.memory import GIB, MemoryPlan, ModelShape, micro_batch_tokens, plan_memory
from sftlens.finetuning.parallel import parallel_kind, world_size, wrap_classes
from sftlens.finetuning.precision import check_kahan_available, resolve_precision


def check_launch(device: str) -> None:
    """Refuse more processes on this host than GPUs; pin this process to its GPU."""
    import torch

    local = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    if local <= 1 or not device.startswith("cuda"):
        return
    gpus = torch.cuda.device_count()
    if local > gpus:
        raise ConfigError(
            f"{local} processes on this host but {gpus} GPU(s) visible; set num_processes "
            f"to at most {gpus} in the accelerate config (or --nproc_per_node)"
        )
    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))  # load onto this rank's GPU


def check_dtype(dtype: Any, device: str) -> None:
    """Refuse bf16 on a GPU without bf16 arithmetic (compute capability below 8.0)."""
    import torch

    if not device.startswith("cuda") or dtype != torch.bfloat16:
        return
    major, minor = torch.cuda.get_device_capability(torch.device(device))
    if major < 8:
        name = torch.cuda.get_device_name(torch.device(device))
        raise ConfigError(
            f"{name} (compute capability {major}.{minor}) has no bfloat16; "
            "use dtype=float16 (fp32 master weights, loss scaling) or dtype=float32"
        )


def plan_kind(parallel: str, gpus: int) -> str:
    """``single`` | ``ddp`` | ``fsdp`` of a run on ``gpus`` processes (for ``--plan``)."""
    if gpus <= 1 or parallel == "none":
        return "single"
    if world_size() > 1:
        return parallel_kind(parallel)
    fsdp_env = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    return "fsdp" if parallel == "fsdp" or (parallel == "auto" and fsdp_env) else "ddp"


def gpu_capacity(cfg: FinetuneConfig, device: str) -> float | None:
    """Bytes of one GPU: ``gpu_memory_gb`` when set, else the visible GPU's, else None."""
    if cfg.gpu_memory_gb is not None:
        return cfg.gpu_memory_gb * GIB
    if device.startswith("cuda"):
        import torch

        return float(torch.cuda.get_device_properties(torch.device(device)).total_memory)
    return None


def preflight(cfg: FinetuneConfig, lengths: list[int]) -> MemoryPlan:
    """All checks before the model loads; the memory plan (the caller refuses it with ``check``)."""
    from sftlens.models import resolve_device, resolve_dtype

    assert cfg.model is not None
    device = resolve_device(cfg.device)
    check_launch(device)
    dtype = resolve_dtype(cfg.dtype, device)
    check_dtype(dtype, device)
    prec = resolve_precision(cfg.precision, dtype)
    if prec.mode == "kahan":
        check_kahan_available()
    gpus = cfg.gpus or world_size()
    kind = plan_kind(cfg.parallel, gpus)
    meta = meta_model(cfg.model)
    if kind == "fsdp":
        if cfg.lora.enabled:
            raise ConfigError("LoRA with parallel=fsdp is not supported; use parallel=ddp")
        wrap_classes(meta)
        if not cfg.plan and not device.startswith("cuda"):
            raise ConfigError("parallel=fsdp needs CUDA GPUs (accelerate runs FSDP on GPUs only)")
    if cfg.lora.enabled:  # adapters only: count the base as frozen
        for p in meta.parameters():
            p.requires_grad_(False)
    plan = plan_memory(
        ModelShape.from_model(meta),
        prec.mode,
        gpus=gpus,
        kind=kind,
        tokens=micro_batch_tokens(lengths, cfg.batch_size, gpus),
        base_bytes=dtype.itemsize,
        compute_bytes=prec.compute_dtype.itemsize,
        capacity=gpu_capacity(cfg, device),
    )
    return plan


def meta_model(name: str) -> Any:
    """The model of ``name`` built on the meta device from its config (no weights read)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from sftlens.models import _load_error, resolve_checkpoint

    path = resolve_checkpoint(name, weights=False)  # a .gguf file: its cached checkpoint
    try:
        config = AutoConfig.from_pretrained(str(path))
    except (OSError, ValueError) as err:
        raise _load_error(name, err) from None
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)
