"""Typed, validated config of a whole study (and of ``sftlens demo``); no torch import.

A study config names the base model and data (or a built knowledge world), the grid
(levels × sizes × seeds), and one typed section per stage (``sftlens.study.sections``: each
stage's own settings class), all validated, with did-you-mean suggestions, before any work.

Example::

    sftlens study configs/demo-tiny.yaml --out runs/demo grid.seeds=[0]
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from sftlens.config import DataOptions, Seed, StageConfig
from sftlens.prompts import DEFAULT_FORMAT, PromptFormatName, get_format
from sftlens.study.sections import (
    CalibrateSection,
    ControlsConfig,
    DiffSection,
    EvaluateSection,
    FinetuneSection,
    GridConfig,
    ProbeSection,
    RestoreSection,
    SelectSection,
    TokenKLSection,
)

log = logging.getLogger(__name__)

#: the stand-in path prefix of shipped configs; a study refuses to start while it is there
PLACEHOLDER = "<DIR>"
#: study sections whose stage reads the study's one prompt format (``prompt_format``)
PROMPT_SECTIONS = ("finetune", "evaluate", "token_kl")
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
        deterministic: run every unit with deterministic kernels (``sftlens.determinism``),
            so that a rerun on CUDA can repeat the numbers; slower.  It enters every unit's
            key: a run with it is a different run.
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
    probe: ProbeSection = Field(default_factory=ProbeSection)  # type: ignore[arg-type]
    select: SelectSection = Field(default_factory=SelectSection)
    finetune: FinetuneSection = Field(default_factory=FinetuneSection)
    calibrate: CalibrateSection = Field(default_factory=CalibrateSection)
    evaluate: EvaluateSection = Field(default_factory=EvaluateSection)
    token_kl: TokenKLSection = Field(default_factory=TokenKLSection)
    kl_enabled: bool = True
    test_per_relation: int | None = Field(default=None, ge=1)
    restore: RestoreSection = Field(default_factory=RestoreSection)
    diff_stats: DiffSection = Field(default_factory=DiffSection)
    controls: ControlsConfig = Field(default_factory=ControlsConfig)
    save_checkpoints: bool = False
    report: bool = True
    workers: int | None = Field(default=None, ge=1)
    workers_per_gpu: int = Field(default=1, ge=1)
    deterministic: bool = False

    @model_validator(mode="before")
    @classmethod
    def _lift_prompt_format(cls, data: Any) -> Any:
        """A section's ``prompt_format`` becomes the study's one setting (they must agree)."""
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
        self._share_prompt_format()
        return self

    def _share_prompt_format(self) -> None:
        if self.world is not None and get_format(self.prompt_format).needs_chat_template:
            raise ValueError(
                f"prompt_format '{self.prompt_format}' needs a chat template, which a built "
                "world's tokenizer does not have; use prompt_format: paper"
            )
        if self.prompt_format != DEFAULT_FORMAT:  # the default is left unset: out of unit keys
            for section in PROMPT_SECTIONS:
                getattr(self, section).prompt_format = self.prompt_format

    def _check_lora(self) -> None:
        lora = self.finetune.lora
        if not lora.enabled or not self.restore.enabled:
            return
        targets = lora.target_modules or "attention (the default)"
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
    def given(self) -> dict[str, Any]:
        """The settings as given (unset ones left out): what a worker rebuilds the config from,
        so its sections hash the same unit keys (:meth:`StudySection.given`)."""
        return self.model_dump(mode="json", exclude_unset=True)

    def base_model(self) -> str:
        return str(Path(self.world) / "model") if self.world else str(self.model)

    def data_spec(self) -> str:
        return f"world:{self.world}" if self.world else str(self.data)

    def lr_auto(self) -> bool:
        """``finetune.lr: auto``: a calibration on dev facts chooses the grid's lr."""
        return self.finetune.auto_lr()

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
