"""Config of ``sftlens finetune``: the paper's SFT defaults, LoRA as an option.

Example::

    sftlens finetune --model runs/world/model --train runs/sets/sets/L0-n240-s0.jsonl \
        --out runs/ft lr=1e-4 lora.enabled=true lora.r=16
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from sftlens.config import (
    NonNegFloat,
    OpenProbability,
    PositiveFloat,
    PositiveInt,
    Seed,
    StageConfig,
)
from sftlens.prompts import DEFAULT_FORMAT, PromptFormatName


class LoraSettings(StageConfig):
    """LoRA adapters (PEFT); merged into the base weights on save / on return.

    Attributes:
        enabled: train LoRA adapters instead of all weights.
        r: adapter rank.
        alpha: scaling numerator (``alpha / r``).
        dropout: dropout on the adapter input.
        target_modules: modules to adapt (PEFT's matching: a name or dotted suffix such as
            ``self_attn.q_proj``; ``Linear`` and GPT-2's ``Conv1D`` both work), or
            ``all-linear`` (every linear layer but the output head).  Unset: the attention
            block's linear modules of the model's architecture (q/k/v/o on Llama,
            ``attn.c_attn``/``attn.c_proj`` on GPT-2, ``self_attn.qkv_proj``/``o_proj`` on Phi-3).
        merge: merge adapters into the base weights when training ends (a plain HF model);
            off: ``<out>/model`` is a PEFT adapter (``AutoPeftModelForCausalLM``) whose
            base is the absolute path or hub id of ``model``.
    """

    enabled: bool = False
    r: PositiveInt = 16
    alpha: PositiveInt = 32
    dropout: OpenProbability = 0.0
    target_modules: list[str] | Literal["all-linear"] | None = None
    merge: bool = True

    @field_validator("target_modules", mode="before")
    @classmethod
    def _modules(cls, value: object) -> object:
        if isinstance(value, str) and value.strip() != "all-linear":
            value = [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, list) and not value:
            raise ValueError("LoRA needs at least one target module")
        return value


class FinetuneSettings(StageConfig):
    """How one supervised fine-tune trains (defaults: the paper's); everything but the model,
    the set, the learning rate, the seed and the device.

    Attributes:
        batch_size: samples per micro-step, over all processes.
        epochs: passes over the set.
        grad_accum: micro-steps per optimizer step.
        warmup_ratio: share of optimizer steps with linear warm-up.
        weight_decay: AdamW weight decay.
        max_grad_norm: gradient clipping norm (0 turns it off).
        scheduler: ``cosine`` | ``linear`` | ``constant``.
        packing: concatenate a micro-batch's samples into one row (no padding).
        compile: ``torch.compile`` each decoder layer (dynamic shapes) for the run; pays off
            on GPU for long runs, where launching small kernels, not the GPU, is the limit.
        prompt_format: a ``sftlens.prompts`` format: ``paper`` (``<|question|> q <|answer|>``) or
            ``chat`` (tokenizer's template).
        max_length: longest sample in tokens (prompts are cut from the left).
        shuffle: shuffle the samples every epoch.
        lora: LoRA settings.
        save: write an HF checkpoint to ``<out>/model``.
        max_shard_size: safetensors shard size of the checkpoint.
        log_every: optimizer steps between progress-bar loss updates (GPU syncs).
        precision: ``auto`` (fp32 master weights for a bf16/fp16 model, plain fp32 for an
            fp32 one) | ``fp32-master`` (fp32 weights and AdamW states, half-precision
            autocast compute, saved in the model's dtype) | ``pure`` (train in the model's
            dtype; updates under half an ulp are lost) | ``kahan`` (bf16 weights with
            Kahan-compensated AdamW from ``torch-optimi``).
        parallel: with several processes: ``auto`` (the accelerate launcher's choice: FSDP
            under an FSDP config, else DDP) | ``ddp`` | ``fsdp`` (FSDP2, decoder layers
            wrapped by the model's ``_no_split_modules``).
        plan: print the per-GPU memory plan and stop (``sftlens finetune --plan``).
        gpus: processes the plan assumes (default: the launcher's ``WORLD_SIZE``, else 1).
        gpu_memory_gb: memory of one GPU for the plan (default: the visible GPU's).
    """

    batch_size: PositiveInt = 8
    epochs: PositiveInt = 1
    grad_accum: PositiveInt = 1
    warmup_ratio: OpenProbability = 0.0
    weight_decay: NonNegFloat = 0.0
    max_grad_norm: NonNegFloat = 1.0
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    packing: bool = True
    compile: bool = False
    prompt_format: PromptFormatName = DEFAULT_FORMAT
    max_length: PositiveInt = 256
    shuffle: bool = True
    lora: LoraSettings = LoraSettings()
    save: bool = True
    max_shard_size: str = "2GB"
    log_every: PositiveInt = 10
    precision: Literal["auto", "fp32-master", "pure", "kahan"] = "auto"
    parallel: Literal["auto", "ddp", "fsdp"] = "auto"
    plan: bool = False
    gpus: PositiveInt | None = None
    gpu_memory_gb: PositiveFloat | None = None

    @field_validator("max_shard_size")
    @classmethod
    def _shard_size(cls, value: str) -> str:
        shard_size_bytes(value)
        return value.strip()


#: the learning rate: a float in (0, 1] (the paper's 1e-5 by default)
LearningRate = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
DEFAULT_LR = 1e-5


class FinetuneConfig(FinetuneSettings):
    """Settings of one supervised fine-tune: :class:`FinetuneSettings` plus the model, the
    set, the learning rate, the seed and the device.

    Attributes:
        model: base model (hub id or checkpoint dir).
        train: SFT set (``.jsonl`` rows with ``question`` and ``answer``).
        lr: peak learning rate (paper 1e-5; world presets ship larger, see docs/finetuning.md).
        seed: seed of shuffling, LoRA init and dropout.
        device: ``auto`` | ``cpu`` | ``cuda[:N]``.
        dtype: ``auto`` (bf16 on GPU, fp32 on CPU) | float32 | bfloat16 | float16.
    """

    model: str | None = None
    train: str | None = None
    lr: LearningRate = DEFAULT_LR
    seed: Seed = 0
    device: str = "auto"
    dtype: str = "auto"


#: the units ``save_pretrained`` reads (lower-case ``b`` = bits there)
_SHARD_SIZE = re.compile(r"\s*(\d+)\s*(GiB|MiB|KiB|GB|MB|KB)\s*", re.IGNORECASE)


def shard_size_bytes(value: str) -> int:
    """Bytes of a shard size such as ``2GB`` or ``500MiB``; ``ValueError`` unless positive."""
    match = _SHARD_SIZE.fullmatch(str(value))
    if match is None:
        raise ValueError(
            f"max_shard_size={value!r} is not a size like 2GB, 500MB or 5GiB (an integer and a unit)"
        )
    number, unit = int(match.group(1)), match.group(2)
    scale = {"g": 10**9, "m": 10**6, "k": 10**3}[unit[0].lower()]
    if "i" in unit.lower():
        scale = {"g": 2**30, "m": 2**20, "k": 2**10}[unit[0].lower()]
    if number * scale < 1:
        raise ValueError(f"max_shard_size={value!r} must be positive")
    return number * scale
