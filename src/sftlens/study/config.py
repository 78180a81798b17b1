"""Typed, validated config of a whole study (and of ``sftlens demo``); no torch import.

A study config names the base model and data (or a built knowledge world), the grid
(levels × sizes × seeds), and one section per stage.  The stage sections are
overrides of that stage's own config class (``sftlens.<stage>.config``); they are
checked against it, with did-you-mean suggestions, before any work starts.

Example::

    sftlens study configs/demo-tiny.yaml --out runs/demo grid.seeds=[0]
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sftlens.config import StageConfig, build_config, check_keys
from sftlens.errors import ConfigError

log = logging.getLogger(__name__)

#: stage section → (config class path, keys the study fills in itself)
STAGE_SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "probe": (
        "sftlens.probing.config:ProbeConfig",
        ("model", "data", "device", "dtype", "backend", "split_preset"),
    ),
    "select": (
        "sftlens.selection.config:SelectConfig",
        ("mastery", "data", "levels", "sizes", "seeds", "split_preset"),
    ),
    "finetune": (
        "sftlens.finetuning.config:FinetuneConfig",
        ("model", "train", "device", "dtype", "seed"),
    ),
    "evaluate": (
        "sftlens.evaluation.config:EvaluateConfig",
        ("model", "data", "mastery", "device", "dtype", "split", "split_preset"),
    ),
    "token_kl": (
        "sftlens.analysis.config:TokenKLConfig",
        ("base", "tuned", "data", "mastery", "device", "dtype", "split", "split_preset"),
    ),
}
LEVELS = ("0", "1", "2", "3", "4")
PAPER_SIZES: list[int | Literal["all"]] = [60, 120, 240, 480, 960, 1920]
PAPER_KS: list[float] = [1, 3, 5, 10, 20, 40, 60]
EVAL_SETS: list[Literal["test", "dev"]] = ["test"]
#: LoRA target module names → the restoration regions that hold them
LORA_REGION_OF = {
    "q_proj": "attention", "k_proj": "attention", "v_proj": "attention", "o_proj": "attention",
    "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp",
}  # fmt: skip


class GridConfig(StageConfig):
    """Training levels × SFT sizes × seeds: one fine-tune per cell."""

    levels: list[str] = Field(default_factory=lambda: list(LEVELS))
    sizes: list[int | Literal["all"]] = Field(default_factory=lambda: list(PAPER_SIZES))
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2])

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
    """Which fine-tunes to restore, and how (k list in percent, strategies, regions)."""

    enabled: bool = True
    ks: list[float] = Field(default_factory=lambda: list(PAPER_KS))
    strategies: list[str] = Field(default_factory=lambda: ["top"])
    regions: list[str] = Field(default_factory=lambda: ["transformer"])
    which: Literal["largest", "all"] | list[int] = "largest"
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> RestoreSection:
        if self.enabled and (not self.ks or not self.strategies or not self.regions):
            raise ValueError("restore.ks, restore.strategies and restore.regions must be non-empty")
        bad = [k for k in self.ks if not 0 < k <= 100]
        if bad:
            raise ValueError(f"restore.ks must lie in (0, 100], got {bad}")
        return self


class DiffSection(StageConfig):
    """Relative-update statistics of each fine-tune against the base."""

    enabled: bool = True
    region: str = "transformer"
    top_pcts: list[float] = Field(default_factory=lambda: list(PAPER_KS))


class StudyConfig(StageConfig):
    """The whole study: base model, data, grid, stage settings, device.

    Either ``world`` (a directory from ``sftlens world build``: its ``model/`` is the
    base and ``world:`` its data) or both ``model`` and ``data`` must be given.
    """

    name: str = "study"
    world: str | None = None
    model: str | None = None
    data: str | None = None
    split_preset: str = "paper-2025"
    device: str = "auto"
    dtype: str = "auto"
    backend: Literal["hf", "vllm"] = "hf"
    grid: GridConfig = Field(default_factory=GridConfig)
    eval_sets: list[Literal["test", "dev"]] = Field(default_factory=lambda: list(EVAL_SETS))
    probe: dict[str, Any] = Field(default_factory=dict)
    select: dict[str, Any] = Field(default_factory=dict)
    finetune: dict[str, Any] = Field(default_factory=dict)
    evaluate: dict[str, Any] = Field(default_factory=dict)
    token_kl: dict[str, Any] = Field(default_factory=dict)
    kl_enabled: bool = True
    test_per_relation: int | None = Field(default=None, ge=1)
    restore: RestoreSection = Field(default_factory=RestoreSection)
    diff_stats: DiffSection = Field(default_factory=DiffSection)
    save_checkpoints: bool = False
    report: bool = True

    @model_validator(mode="after")
    def _check(self) -> StudyConfig:
        if self.world is None and (self.model is None or self.data is None):
            raise ValueError("give either 'world' (a built world dir) or both 'model' and 'data'")
        if not self.eval_sets:
            raise ValueError("eval_sets is empty: nothing to evaluate")
        if self.backend == "vllm" and self.device == "cpu":
            raise ValueError("backend 'vllm' needs a GPU; use backend: hf with device: cpu")
        if isinstance(self.restore.which, list) and self.restore.enabled:
            missing = sorted(
                set(self.restore.which) - {s for s in self.grid.sizes if isinstance(s, int)}
            )
            if missing:
                raise ValueError(f"restore.which names sizes {missing} that are not in grid.sizes")
        self._check_lora()
        return self

    def _check_lora(self) -> None:
        lora = self.finetune.get("lora") or {}
        if not (isinstance(lora, dict) and lora.get("enabled")) or not self.restore.enabled:
            return
        targets = lora.get("target_modules") or ["q_proj", "k_proj", "v_proj", "o_proj"]
        trained = {LORA_REGION_OF.get(str(t).split(".")[-1], "?") for t in targets}
        for region in self.restore.regions:
            if region in ("embedding", "all") or (
                region in ("attention", "mlp") and region not in trained
            ):
                raise ValueError(
                    f"restore region '{region}' holds tensors that LoRA (targets {targets}) never "
                    "trains: restoring them is a no-op; restrict restore.regions to the LoRA targets"
                )

    # ------------------------------------------------------------------ derived values
    def base_model(self) -> str:
        return str(Path(self.world) / "model") if self.world else str(self.model)

    def data_spec(self) -> str:
        return f"world:{self.world}" if self.world else str(self.data)

    def restored_sizes(self) -> list[int | str]:
        """Grid sizes whose fine-tunes get the restore sweep."""
        if not self.restore.enabled:
            return []
        if self.restore.which == "all":
            return list(self.grid.sizes)
        if self.restore.which == "largest":
            return ["all"] if "all" in self.grid.sizes else [max(int(s) for s in self.grid.sizes)]
        return list(self.restore.which)


def stage_config_class(section: str) -> type[StageConfig] | None:
    """The stage's config class for a study section, or None when that stage is not installed."""
    path = STAGE_SECTIONS[section][0]
    module, attr = path.split(":")
    try:
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
    except (ImportError, AttributeError):
        log.debug("config class %s not available; section '%s' not checked", path, section)
        return None


def check_stage_sections(cfg: StudyConfig) -> None:
    """Check every stage section's keys and values against its stage config class."""
    for section, (_path, filled) in STAGE_SECTIONS.items():
        cls = stage_config_class(section)
        values = getattr(cfg, section)
        if cls is None:
            continue
        clash = sorted(set(values) & set(filled) & set(cls.model_fields))
        if clash:
            raise ConfigError(f"key '{section}.{clash[0]}' is set by the study itself; remove it")
        check_keys(cls, values, prefix=f"{section}.")
        # values too: the keys the study fills in get placeholders (checked when it fills them)
        required = {
            k: "-" for k, f in cls.model_fields.items() if f.is_required() and k not in values
        }
        build_config(cls, {**required, **values}, source=f"study section '{section}'")


class DemoConfig(StageConfig):
    """``sftlens demo``: build the tiny world (unless given), run the demo study, write the report."""

    world: str | None = None
    preset: str = "tiny"
    seed: int = 0
    study_config: str | None = None
    overrides: list[str] = Field(default_factory=list)
