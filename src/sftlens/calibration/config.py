"""Config of ``sftlens calibrate``: choose the fine-tuning learning rate on dev facts (no torch).

Example::

    sftlens calibrate --model runs/world/model --data world:runs/world \
        --mastery runs/probe/mastery.parquet --out runs/calib lrs=[1e-5,1e-4] size=120
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sftlens.config import Seed, StageConfig
from sftlens.evaluation import EvaluateConfig
from sftlens.finetuning import FinetuneConfig

#: the default learning-rate grid (fixed in advance: the paper's 1e-5 and three steps up)
DEFAULT_LRS: list[float] = [1e-5, 3e-5, 1e-4, 3e-4]


def check_lr_grid(lrs: Sequence[object]) -> list[float]:
    """The grid as floats; raises ``ValueError`` when empty, non-positive or duplicated."""
    if not lrs:
        raise ValueError("the learning-rate grid 'lrs' is empty: give at least one lr")
    try:
        values = [float(x) for x in lrs]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(
            f"the learning-rate grid 'lrs' must hold numbers, got {list(lrs)}"
        ) from None
    bad = [x for x in values if not (x > 0 and math.isfinite(x))]
    if bad:
        raise ValueError(f"the learning-rate grid 'lrs' must be positive and finite, got {bad}")
    if len(set(values)) != len(values):
        raise ValueError(f"the learning-rate grid 'lrs' has duplicates: {values}")
    return values


class CalibrateSettings(StageConfig):
    """The learning-rate grid and seed of a calibration (the settings that a study may set).

    Attributes:
        lrs: the learning-rate grid; one fine-tune per lr.
        seed: seed of the set's selection and of every fine-tune.
    """

    lrs: list[float] = Field(default_factory=lambda: list(DEFAULT_LRS))
    seed: Seed = 0

    @field_validator("lrs", mode="before")
    @classmethod
    def _lrs(cls, value: object) -> object:
        items = value if isinstance(value, list) else [value]
        return check_lr_grid(items)


class CalibrateConfig(CalibrateSettings):
    """Settings of the learning-rate calibration (the rule itself is fixed: docs/calibration.md).

    Attributes:
        model: base model (hub id or checkpoint dir).
        data: data spec; it must have a ``dev`` split.
        split_preset: in-domain / OOD split preset.
        mastery: the base model's ``mastery.parquet``, covering the in-domain train and dev facts.
        size: size of the mastery-mixed (``random`` level) SFT set; ``all`` = the whole pool.
        allow_smaller: shrink the set when the pool cannot fill it.
        finetune: fine-tuning settings (``lr``, ``model``, ``train`` and ``seed`` are set here).
        evaluate: evaluation settings used on the dev facts (``split`` is always ``dev``).
        device: ``auto | cpu | cuda[:N]``.
        dtype: ``auto | float32 | bfloat16 | float16``.
    """

    model: str | None = None
    data: str | None = None
    split_preset: str = "paper-2025"
    mastery: str | None = None
    size: int | Literal["all"] = 120
    allow_smaller: bool = False
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    device: str = "auto"
    dtype: str = "auto"

    @field_validator("size")
    @classmethod
    def _size(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("size must be at least 1 (or 'all')")
        return value

    @model_validator(mode="after")
    def _lr_from_grid(self) -> CalibrateConfig:
        if "lr" in self.finetune.model_fields_set:
            raise ValueError("finetune.lr is chosen by the calibration; give the grid as lrs=[...]")
        return self
