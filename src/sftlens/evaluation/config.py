"""Config of the CBQA evaluation stage (no torch import here).

Example::

    sftlens evaluate --model runs/ft/model --data world:runs/world --mastery runs/probe/mastery.parquet \
        --out runs/eval matching=token limit=200
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from sftlens.config import StageConfig


class EvaluateConfig(StageConfig):
    """Closed-book QA evaluation of one model against the base model's mastery levels.

    Attributes:
        model: HF hub id or local checkpoint dir of the model to evaluate.
        data: data spec (``entityquestions:DIR``, ``world:DIR``, ``jsonl:PATH``).
        split_preset: which relations are in-domain / out-of-domain.
        mastery: the BASE model's ``mastery.parquet`` (test facts take their level from it).
        split: which split of the data to evaluate.
        domains: which domains to evaluate (``in``, ``ood``).
        matching: answer-matching mode of the data layer (``contains`` is the paper's).
        max_new_tokens: greedy decoding length (paper: 16).
        batch_size: generation batch size; ``None`` lets the engine choose.
        device: ``auto | cpu | cuda[:N]``.
        dtype: ``auto | float32 | bfloat16 | float16``.
        limit: evaluate only the first ``limit`` facts (quick runs).
    """

    model: str | None = None
    data: str | None = None
    split_preset: str = "paper-2025"
    mastery: str | None = None
    split: Literal["train", "dev", "test"] = "test"
    domains: list[Literal["in", "ood"]] = ["in", "ood"]
    matching: str = "contains"
    max_new_tokens: int = Field(default=16, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    device: str = "auto"
    dtype: str = "auto"
    limit: int | None = Field(default=None, ge=1)

    @field_validator("domains", mode="before")
    @classmethod
    def _domains_as_list(cls, value: object) -> object:
        return [v.strip() for v in value.split(",")] if isinstance(value, str) else value

    @field_validator("domains")
    @classmethod
    def _domains_not_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one domain is needed")
        return list(dict.fromkeys(value))
