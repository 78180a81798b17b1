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

from sftlens.config import DataOptions, Seed, StageConfig
from sftlens.prompts import DEFAULT_FORMAT, PromptFormatName, get_format
from sftlens.restoration.config import PAPER_KS, check_k, check_strategy
from sftlens.study.controls import ControlsConfig

log = logging.getLogger(__name__)

DATA_KEYS = ("relations", "aliases", "limit")  # DataOptions the study sets for every stage
#: stage section → (config class path, keys the study fills in itself)
STAGE_SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "probe": (
        "sftlens.probing.config:ProbeConfig",
        ("model", "data", "device", "dtype", "backend", "split_preset", *DATA_KEYS),
    ),
    "select": (
        "sftlens.selection.config:SelectConfig",
        ("mastery", "data", "levels", "sizes", "seeds", "split_preset", *DATA_KEYS),
    ),
    "finetune": (
        "sftlens.finetuning.config:FinetuneConfig",
        ("model", "train", "device", "dtype", "seed"),
    ),
    "calibrate": (
        "sftlens.calibration.config:CalibrateConfig",
        (
            "model",
            "data",
            "mastery",
            "device",
            "dtype",
            "split_preset",
            "finetune",
            "evaluate",
            "size",
            "allow_smaller",
        ),
    ),
    "evaluate": (
        "sftlens.evaluation.config:EvaluateConfig",
        ("model", "data", "mastery", "device", "dtype", "split", "split_preset", *DATA_KEYS),
    ),
    "token_kl": (
        "sftlens.analysis.config:TokenKLConfig",
        (
            "base",
            "tuned",
            "data",
            "mastery",
            "device",
            "dtype",
            "split",
            "split_preset",
            *DATA_KEYS,
        ),
    ),
}
#: the stand-in path prefix of shipped configs; a study refuses to start while it is there
PLACEHOLDER = "<DIR>"
#: study sections whose stage reads the study's one prompt format (``prompt_format``)
PROMPT_SECTIONS = ("finetune", "evaluate", "token_kl")
LEVELS = ("0", "1", "2", "3", "4")
PAPER_SIZES: list[int | Literal["all"]] = [60, 120, 240, 480, 960, 1920]
AUTO_LR = "auto"  # finetune.lr: auto → calibrated on dev facts (sftlens.calibration)
EVAL_SETS: list[Literal["test", "dev"]] = ["test"]
#: LoRA target module names → the restoration regions that hold them
LORA_REGION_OF = {
    "q_proj": "attention", "k_proj": "attention", "v_proj": "attention", "o_proj": "attention",
    "gate_proj": "mlp", "up_proj": "mlp", "down_proj": "mlp",
}  # fmt: skip


def _lora_regions(targets: Any) -> set[str]:
    """Restoration regions that hold LoRA's target modules (``?`` when unknown)."""
    if targets == "all-linear":
        return {"attention", "mlp"}
    if isinstance(targets, str):
        return {"attention"}  # unset: the architecture's attention linear modules
    from sftlens.architecture import group_of

    return {LORA_REGION_OF.get(str(t).split(".")[-1]) or group_of(str(t)) for t in targets}


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
    """

    enabled: bool = True
    ks: list[float] = Field(default_factory=lambda: list(PAPER_KS))
    strategies: list[str] = Field(default_factory=lambda: ["top"])
    regions: list[str] = Field(default_factory=lambda: ["transformer"])
    which: Literal["largest", "all"] | list[int] = "largest"
    seed: Seed = 0

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


class StudyConfig(DataOptions):
    """The whole study: base model, data, grid, stage settings, device.

    Either ``world`` (a directory from ``sftlens world build``: its ``model/`` is the
    base and ``world:`` its data) or both ``model`` and ``data`` must be given.
    ``prompt_format`` (``sftlens.prompts``) is picked once here and handed to fine-tuning,
    evaluation and token KL, so a model is always scored on the prompt it was trained on.
    ``relations``, ``aliases`` and ``limit`` are the data options of every stage
    (:class:`sftlens.config.DataOptions`).

    Attributes:
        name: the study's name (in the report).
        world: a directory from ``sftlens world build`` (its model and data).
        model: base model (hub id or checkpoint dir), with ``data``.
        device: ``auto | cpu | cuda[:N]``.
        dtype: ``auto | float32 | bfloat16 | float16``.
        backend: generation backend of the probe: ``hf`` | ``vllm``.
        prompt_format: the SFT/evaluation prompt format of every stage (``paper``, ``chat``).
        grid: training levels × sizes × seeds.
        eval_sets: splits every model is evaluated on (``test``, ``dev``).
        probe: settings of the probe stage (keys of ``sftlens probe --help``).
        select: settings of the selection stage (keys of ``sftlens select --help``).
        finetune: settings of each fine-tune (keys of ``sftlens finetune --help``; ``lr: auto``
            calibrates it).
        calibrate: settings of the learning-rate calibration (with ``finetune.lr: auto``).
        evaluate: settings of each evaluation (keys of ``sftlens evaluate --help``).
        token_kl: settings of token KL (keys of ``sftlens token-kl --help``).
        kl_enabled: compute token KL for each fine-tune.
        test_per_relation: evaluate only the first n test facts per relation.
        restore: the restoration sweep.
        diff_stats: relative-update statistics.
        controls: controls beside the grid, reported apart (:mod:`sftlens.study.controls`).
        save_checkpoints: keep every fine-tuned checkpoint.
        report: write the HTML report at the end.
        workers: worker processes on this host (spread over the GPUs, or the CPU cores).
        workers_per_gpu: most workers sharing one GPU.
    """

    name: str = "study"
    world: str | None = None
    model: str | None = None
    device: str = "auto"
    dtype: str = "auto"
    backend: Literal["hf", "vllm"] = "hf"
    prompt_format: PromptFormatName = DEFAULT_FORMAT
    grid: GridConfig = Field(default_factory=GridConfig)
    eval_sets: list[Literal["test", "dev"]] = Field(default_factory=lambda: list(EVAL_SETS))
    probe: dict[str, Any] = Field(default_factory=dict)
    select: dict[str, Any] = Field(default_factory=dict)
    finetune: dict[str, Any] = Field(default_factory=dict)
    calibrate: dict[str, Any] = Field(default_factory=dict)
    evaluate: dict[str, Any] = Field(default_factory=dict)
    token_kl: dict[str, Any] = Field(default_factory=dict)
    kl_enabled: bool = True
    test_per_relation: int | None = Field(default=None, ge=1)
    restore: RestoreSection = Field(default_factory=RestoreSection)
    diff_stats: DiffSection = Field(default_factory=DiffSection)
    controls: ControlsConfig = Field(default_factory=ControlsConfig)
    save_checkpoints: bool = False
    report: bool = True
    workers: int | None = Field(default=None, ge=1)
    workers_per_gpu: int = Field(default=1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _lift_prompt_format(cls, data: Any) -> Any:
        """A section's ``prompt_format`` (older configs) becomes the study's one setting."""
        if not isinstance(data, dict):
            return data
        named = {
            f"{sec}.prompt_format": data[sec]["prompt_format"]
            for sec in PROMPT_SECTIONS
            if isinstance(data.get(sec), dict) and "prompt_format" in data[sec]
        }
        if "prompt_format" in data:
            named["prompt_format"] = data["prompt_format"]
        if len(set(named.values())) > 1:
            raise ValueError(
                f"prompt formats disagree ({named}): set the one study-level 'prompt_format'"
            )
        if named:
            data = {**data, "prompt_format": next(iter(named.values()))}
        return data

    @model_validator(mode="after")
    def _check(self) -> StudyConfig:
        if self.world is None and (self.model is None or self.data is None):
            raise ValueError("give either 'world' (a built world dir) or both 'model' and 'data'")
        for key in ("model", "data", "world"):
            if PLACEHOLDER in str(getattr(self, key) or ""):
                raise ValueError(
                    f"{key} still holds the placeholder '{PLACEHOLDER}': replace it in the config "
                    f"or pass {key}=" + ("entityquestions:DIR" if key == "data" else "PATH")
                )
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
        self._check_lr()
        self._share_prompt_format()
        return self

    def _check_lr(self) -> None:
        from sftlens.calibration.config import DEFAULT_LRS, check_lr_grid

        lr = self.finetune.get("lr")
        if lr is not None and lr != AUTO_LR:
            try:
                float(lr)
            except (TypeError, ValueError):
                raise ValueError(
                    f"finetune.lr must be a number or '{AUTO_LR}', got {lr!r}"
                ) from None
        lrs = self.calibrate.get("lrs", DEFAULT_LRS)
        check_lr_grid(lrs if isinstance(lrs, list) else [lrs])

    def _share_prompt_format(self) -> None:
        if self.world is not None and get_format(self.prompt_format).needs_chat_template:
            raise ValueError(
                f"prompt_format '{self.prompt_format}' needs a chat template, which a built "
                "world's tokenizer does not have; use prompt_format: paper"
            )
        if self.prompt_format != DEFAULT_FORMAT:  # the default adds no key: unit hashes stay
            for section in PROMPT_SECTIONS:
                getattr(self, section)["prompt_format"] = self.prompt_format

    def _check_lora(self) -> None:
        lora = self.finetune.get("lora") or {}
        if not (isinstance(lora, dict) and lora.get("enabled")) or not self.restore.enabled:
            return
        targets = lora.get("target_modules") or "attention (the default)"
        trained = _lora_regions(targets)
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

    def lr_auto(self) -> bool:
        """``finetune.lr: auto``: a calibration on dev facts chooses the grid's lr."""
        return self.finetune.get("lr") == AUTO_LR

    def calibration_size(self) -> int | str:
        """The grid's middle size (the lower middle of an even count; ``all`` is the largest)."""
        ordered = sorted(self.grid.sizes, key=lambda s: (s == "all", s if s != "all" else 0))
        return ordered[(len(ordered) - 1) // 2]

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


class DemoConfig(StageConfig):
    """``sftlens demo``: build the tiny world (unless given), run the demo study, write the report.

    Attributes:
        world: a built world to use instead of building one.
        preset: the world preset to build.
        seed: the world's seed.
        study_config: a study YAML instead of the packaged ``demo-tiny``.
        overrides: ``key=value`` overrides of the study config.
    """

    world: str | None = None
    preset: str = "tiny"
    seed: Seed = 0
    study_config: str | None = None
    overrides: list[str] = Field(default_factory=list)
