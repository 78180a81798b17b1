"""Config of the token-level KL analysis (no torch import here).

Example::

    sftlens token-kl --base runs/world/model --tuned runs/ft/model --data world:runs/world \
        --mastery runs/probe/mastery.parquet --out runs/kl levels=3,4 base_prompt=qa
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from sftlens.config import DomainChoice, FactSelectionConfig, PositiveInt
from sftlens.prompts import DEFAULT_FORMAT, PromptFormatName


class TokenKLSettings(DomainChoice):
    """Which facts and prompts token KL compares (the settings that name no model or data).

    Attributes:
        levels: test levels of the facts to analyse (paper: level 4 only).
        base_prompt: ``statement`` = each relation's best statement template for the base
            model (the paper's choice) or ``qa`` = the QA prompt.
        tuned_prompt: prompt of the tuned model (``qa``, the SFT format, or ``statement``).
        prompt_format: the ``sftlens.prompts`` format of ``qa`` prompts (the SFT format).
        top_k: number of the tuned model's top tokens in the paper's KL (10).
        batch_size: facts per forward pass; ``None``: 32 on CPU, 256 on GPU (32 left an H100 idle).
        domains: which domains to analyse.
    """

    levels: list[int] = Field(default_factory=lambda: [4])
    base_prompt: Literal["statement", "qa"] = "statement"
    tuned_prompt: Literal["statement", "qa"] = "qa"
    prompt_format: PromptFormatName = DEFAULT_FORMAT
    top_k: PositiveInt = 10
    batch_size: PositiveInt | None = None

    @field_validator("levels")
    @classmethod
    def _levels_in_range(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("at least one level is needed")
        bad = [v for v in value if not 0 <= v <= 4]
        if bad:
            raise ValueError(f"levels must be in 0..4, got {bad}")
        return sorted(set(value))


class TokenKLConfig(FactSelectionConfig, TokenKLSettings):
    """KL between the tuned and the base model's first-answer-token distributions.

    Attributes:
        base: base model id or path.
        tuned: fine-tuned model id or path (must share the base model's tokenizer).
        data: data spec.
        split_preset: which relations are in-domain / out-of-domain.
        mastery: the BASE model's ``mastery.parquet`` (levels and best templates).
        split: which split's facts to analyse.
        device: ``auto | cpu | cuda[:N]``.
        dtype: ``auto | float32 | bfloat16 | float16``.
    """

    base: str | None = None
    tuned: str | None = None
