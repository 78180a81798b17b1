"""The study's checks before any work: every stage section, the prompt format, the model's layout.

Example::

    cfg = load_config(StudyConfig, "configs/demo-tiny.yaml", ["world=runs/world-tiny"])
    check_stage_sections(cfg)   # one-line ConfigError naming the bad key or value
"""

from __future__ import annotations

from typing import Any

from sftlens.errors import ConfigError, SftlensError
from sftlens.prompts import get_format, note_answer_span
from sftlens.study.config import StudyConfig
from sftlens.study.sections import STAGE_SECTIONS


def check_prompt_format(cfg: StudyConfig) -> None:
    """Refuse a prompt format the base model's tokenizer cannot render (one line, before work);
    note once a chat format scored by the paper's first-line answer rule."""
    fmt = get_format(cfg.prompt_format)
    note_answer_span(cfg.prompt_format, cfg.evaluate.answer_span)
    if fmt.needs_chat_template:
        from sftlens.models import load_tokenizer

        try:
            fmt.check(load_tokenizer(cfg.base_model()))
        except ConfigError as exc:
            raise ConfigError(f"study prompt_format: {exc} ({cfg.base_model()})") from None


def study_values(cfg: StudyConfig) -> dict[str, Any]:
    """What the study fills into the stage configs (paths of its own outputs as stand-ins)."""
    return {
        "model": cfg.base_model(), "base": cfg.base_model(), "tuned": cfg.base_model(),
        "data": cfg.data_spec(), "mastery": "mastery.parquet", "train": "train.jsonl",
        "device": cfg.device, "dtype": cfg.dtype, "backend": cfg.backend,
        "split_preset": cfg.split_preset, "split": cfg.eval_sets[0], "seed": cfg.grid.seeds[0],
        "levels": cfg.grid.levels, "sizes": cfg.grid.sizes, "seeds": len(cfg.grid.seeds),
        "size": cfg.calibration_size(), "allow_smaller": cfg.select.allow_smaller,
    }  # fmt: skip


def check_stage_sections(cfg: StudyConfig) -> None:
    """Build every stage's config from its section and the values the study fills in, before
    any work, so the stage's own validators run now, not when its first unit starts.  The restore
    and diff-stats regions are checked against the region registry.
    """
    filled = study_values(cfg)
    for section in STAGE_SECTIONS:
        getattr(cfg, section.key).config(**filled)
    check_regions(cfg)


def check_regions(cfg: StudyConfig) -> None:
    """Every restore / diff-stats region names known regions (one-line error otherwise)."""
    from sftlens.restoration import region_predicate

    named = [("restore.regions", r) for r in cfg.restore.regions if cfg.restore.enabled]
    if cfg.diff_stats.enabled:
        named.append(("diff_stats.region", cfg.diff_stats.region))
    for key, region in named:
        try:
            region_predicate(region)
        except SftlensError as exc:
            raise ConfigError(f"{key}: {exc}") from None


def check_model_layout(cfg: StudyConfig) -> None:
    """Before any probing: the weight-level stages can read the base model's layers."""
    if cfg.restore.enabled or cfg.diff_stats.enabled:
        from sftlens.architecture import check_layout

        check_layout(cfg.base_model())


def check_device_and_model(cfg: StudyConfig) -> None:
    """Before ``--out`` is made: the device exists and the base model's weight files open.

    Reads only the safetensors headers (cheap at any model size), so ``device=cuda:7``, a
    missing model or a garbage weight file fail here with one line, also before workers start.
    """
    from sftlens.models import resolve_device
    from sftlens.restoration import source_from_dir

    resolve_device(cfg.device)
    source_from_dir(cfg.base_model()).names()
