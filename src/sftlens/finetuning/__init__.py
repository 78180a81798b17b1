"""Supervised fine-tuning (full or LoRA) with the paper's QA format.

Example::

    from sftlens.finetuning import finetune
    from sftlens.finetuning.config import FinetuneConfig
    result = finetune(model, tok, examples, FinetuneConfig(lr=1e-4))

``finetune`` and ``FinetuneResult`` are imported lazily so that importing the
config (``sftlens.finetuning.config``) never pulls in torch.
"""

from __future__ import annotations

from typing import Any

from sftlens.finetuning.config import (
    DEFAULT_LR,
    FinetuneConfig,
    FinetuneSettings,
    LearningRate,
    LoraSettings,
)

__all__ = [
    "DEFAULT_LR", "FinetuneConfig", "FinetuneResult", "FinetuneSettings", "LearningRate",
    "LoraSettings", "finetune",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in ("finetune", "FinetuneResult"):
        from sftlens.finetuning import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'sftlens.finetuning' has no attribute '{name}'")
