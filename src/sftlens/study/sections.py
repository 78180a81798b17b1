"""The typed sections of a study config: the grid, one section per stage, restore, diff-stats.

Each stage section is that stage's own settings class (``ProbeSettings``, ``FinetuneSettings``,
...): the keys its stage config has beyond them (model, data, device, ...) are filled in by the
study, and naming one in the study config is refused before any work.  ``finetune.lr`` is the
one setting a study types otherwise: a learning rate, or ``auto`` (calibrated on dev facts).

Example::

    section = FinetuneSection.model_validate({"batch_size": 4, "lr": "auto"})
    section.given()                                   # {"batch_size": 4, "lr": "auto"}
    section.config(model="runs/w/model", seed=0, lr=3e-4)   # a FinetuneConfig
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from sftlens.analysis import TokenKLConfig, TokenKLSettings
from sftlens.calibration import CalibrateConfig, CalibrateSettings
from sftlens.config import PositiveFloat, Seed, StageConfig, build_config
from sftlens.evaluation import EvaluateConfig, EvaluateSettings
from sftlens.finetuning import DEFAULT_LR, FinetuneConfig, FinetuneSettings, LearningRate
from sftlens.probing import ProbeConfig, ProbeSettings
from sftlens.restoration import EPS, PAPER_KS, check_k, check_strategy
from sftlens.selection import SelectConfig, SelectSettings

C = TypeVar("C", bound=StageConfig)
LEVELS = ("0", "1", "2", "3", "4")
PAPER_SIZES: list[int | Literal["all"]] = [60, 120, 240, 480, 960, 1920]
AUTO_LR = "auto"  # finetune.lr: auto → calibrated on dev facts (sftlens.calibration)


class StudySection(StageConfig):
    """A study's settings of one stage; the rest of the stage's config is the study's to fill."""

    #: the stage's config class, and the section's key in the study config
    stage_class: ClassVar[type[StageConfig]]
    key: ClassVar[str]

    @classmethod
    def refused_key(cls, key: str) -> str | None:
        if key in cls.stage_class.model_fields and key not in cls.model_fields:
            return "is set by the study itself; remove it"
        return None

    def given(self) -> dict[str, Any]:
        """The settings the study config names (what unit keys hash), e.g. ``{"samples": 2}``."""
        return self.model_dump(mode="json", exclude_unset=True)

    def _build(
        self, cls: type[C], filled: dict[str, Any], given: dict[str, Any] | None = None
    ) -> C:
        """``cls`` from the section's settings and the ``filled`` values of the keys it lacks."""
        own = type(self).model_fields
        values = self.given() if given is None else given
        values = {
            **values,
            **{k: v for k, v in filled.items() if k in cls.model_fields and k not in own},
        }
        return build_config(cls, values, source=f"study section '{self.key}'")


class ProbeSection(ProbeSettings, StudySection):
    """The probe's settings (keys of ``sftlens probe --help`` but model, data and device).

    Attributes:
        dtype: the dtype the probe loads the base model in, when not the study's (e.g. a bf16
            probe in an fp32 study whose fine-tunes keep fp32 weights); unset: the study's.
    """

    stage_class = ProbeConfig
    key = "probe"
    dtype: str | None = None

    def config(self, **filled: Any) -> ProbeConfig:
        given = self.given()
        if given.get("dtype") is None:  # unset: the study's dtype
            given.pop("dtype", None)
            if "dtype" in filled:
                given["dtype"] = filled["dtype"]
        return self._build(ProbeConfig, filled, given)


class SelectSection(SelectSettings, StudySection):
    """The selection's settings (the grid names levels, sizes and seeds)."""

    stage_class = SelectConfig
    key = "select"

    def config(self, **filled: Any) -> SelectConfig:
        return self._build(SelectConfig, filled)


class FinetuneSection(FinetuneSettings, StudySection):
    """Each fine-tune's settings; ``lr: auto`` calibrates the grid's lr on dev facts.

    Attributes:
        lr: the peak learning rate of every fine-tune, or ``auto``.
    """

    stage_class = FinetuneConfig
    key = "finetune"
    lr: LearningRate | Literal["auto"] = DEFAULT_LR

    @field_validator("lr", mode="plain")
    @classmethod
    def _lr(cls, value: object) -> float | str:
        if value == AUTO_LR:
            return AUTO_LR
        try:
            lr = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"must be a number in (0, 1] or '{AUTO_LR}'") from None
        if not 0 < lr <= 1:  # also refuses nan
            raise ValueError(f"lr={lr} is outside (0, 1]")
        return lr

    def auto_lr(self) -> bool:
        """``lr: auto``: a calibration on dev facts chooses the grid's lr."""
        return self.lr == AUTO_LR

    def config(self, lr: float | None = None, **filled: Any) -> FinetuneConfig:
        """The stage config; ``lr``: the calibrated lr (left at the stage's default when None
        and the section's lr is ``auto``: the calibration sets its own per run)."""
        given = {k: v for k, v in self.given().items() if k != "lr"}
        chosen = lr if lr is not None else None if self.auto_lr() else self.lr
        if chosen is not None:
            given["lr"] = chosen
        return self._build(FinetuneConfig, filled, given)


class CalibrateSection(CalibrateSettings, StudySection):
    """The learning-rate calibration's grid and seed (used with ``finetune.lr: auto``)."""

    stage_class = CalibrateConfig
    key = "calibrate"

    def config(self, **filled: Any) -> CalibrateConfig:
        return self._build(CalibrateConfig, filled)


class EvaluateSection(EvaluateSettings, StudySection):
    """Each evaluation's settings (keys of ``sftlens evaluate --help`` but model and data)."""

    stage_class = EvaluateConfig
    key = "evaluate"

    def config(self, **filled: Any) -> EvaluateConfig:
        return self._build(EvaluateConfig, filled)


class TokenKLSection(TokenKLSettings, StudySection):
    """Token KL's settings (keys of ``sftlens token-kl --help`` but models and data)."""

    stage_class = TokenKLConfig
    key = "token_kl"

    def config(self, **filled: Any) -> TokenKLConfig:
        return self._build(TokenKLConfig, filled)


#: the stage sections of a study config, in the order a study runs them
STAGE_SECTIONS: tuple[type[StudySection], ...] = (
    ProbeSection, SelectSection, CalibrateSection, FinetuneSection, EvaluateSection, TokenKLSection,
)  # fmt: skip


class GridConfig(StageConfig):
    """Training levels × SFT sizes × seeds: one fine-tune per cell.

    Attributes:
        levels: training levels (``"0"``..``"4"``, mixes like ``"0+1"``, ``"random"``).
        sizes: SFT set sizes (``all``: the whole pool).
        seeds: seeds of selection and fine-tuning.
    """

    levels: list[str] = Field(default_factory=lambda: list(LEVELS))
    sizes: list[int | Literal["all"]] = Field(default_factory=lambda: list(PAPER_SIZES))
    seeds: list[Seed] = Field(default_factory=lambda: [0, 1, 2])

    @field_validator("levels", mode="before")
    @classmethod
    def _levels_as_str(cls, v: Any) -> Any:
        return [str(x) for x in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _non_empty(self) -> GridConfig:
        for name in ("levels", "sizes", "seeds"):
            values = getattr(self, name)
            if not values:
                raise ValueError(f"grid.{name} is empty: the study would run nothing")
            if len(set(map(str, values))) != len(values):
                raise ValueError(f"grid.{name} has duplicates: {values}")
        bad = [s for s in self.sizes if isinstance(s, int) and s <= 0]
        if bad:
            raise ValueError(f"grid.sizes must be positive, got {bad}")
        return self


class RestoreSection(StageConfig):
    """Which fine-tunes to restore, and how (k list in percent, strategies, regions).

    Attributes:
        enabled: run the restoration sweep.
        ks: percents of each region's elements to restore.
        strategies: restore strategies (``top``, ``bottom``, ``random``).
        regions: restoration regions (``transformer``, ``attention``, ``mlp``, ...).
        which: sizes whose fine-tunes are restored: ``largest`` | ``all`` | a list of sizes.
        seed: seed of the ``random`` strategy.
        r_eps: epsilon of r = |t-b|/(|b|+r_eps), for restoration and diff statistics alike (the
            paper's 1e-8; a larger one bounds r on exact zeros of a dequantized base).
    """

    enabled: bool = True
    ks: list[float] = Field(default_factory=lambda: list(PAPER_KS))
    strategies: list[str] = Field(default_factory=lambda: ["top"])
    regions: list[str] = Field(default_factory=lambda: ["transformer"])
    which: Literal["largest", "all"] | list[int] = "largest"
    seed: Seed = 0
    r_eps: PositiveFloat = EPS

    @model_validator(mode="after")
    def _check(self) -> RestoreSection:
        if self.enabled and (not self.ks or not self.strategies or not self.regions):
            raise ValueError("restore.ks, restore.strategies and restore.regions must be non-empty")
        for k in self.ks:
            check_k(k, "restore.ks: k")
        for name in self.strategies:
            check_strategy(name)
        return self


class DiffSection(StageConfig):
    """Relative-update statistics of each fine-tune against the base.

    Attributes:
        enabled: compute the statistics.
        region: the region they cover.
        top_pcts: top percents whose share of the total relative update is reported.
    """

    enabled: bool = True
    region: str = "transformer"
    top_pcts: list[float] = Field(default_factory=lambda: list(PAPER_KS))

    @model_validator(mode="after")
    def _check(self) -> DiffSection:
        for k in self.top_pcts:
            check_k(k, "diff_stats.top_pcts: k")
        return self


class ControlsConfig(StageConfig):
    """Controls run beside the grid, reported apart from the paper's cells.

    Attributes:
        steps_matched: also train the smallest size of every level and seed for as many
            optimizer steps as the largest size.
        lr_sensitivity: extra learning rates at which every level × size is trained again.
        lr_sensitivity_seeds: seeds of the lr-sensitivity cells (None: the grid's first seed).
    """

    steps_matched: bool = False
    lr_sensitivity: list[PositiveFloat] = Field(default_factory=list)
    lr_sensitivity_seeds: list[Seed] | None = None
