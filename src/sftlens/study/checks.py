"""The study's checks before any work: every stage section, the prompt format, the model's layout.

Example::

    cfg = load_config(StudyConfig, "configs/demo-tiny.yaml", ["world=runs/world-tiny"])
    check_stage_sections(cfg)   # one-line ConfigError naming the bad key or value
"""

from __future__ import annotations

from typing import Any

from sftlens.config import build_config, check_keys
from sftlens.errors import ConfigError, SftlensError
from sftlens.prompts import get_format
from sftlens.study.config import AUTO_LR, STAGE_SECTIONS, StudyConfig, stage_config_class


def check_prompt_format(cfg: StudyConfig) -> None:
    """Refuse a prompt format the base model's tokenizer cannot render (one line, before work)."""
    fmt = get_format(cfg.prompt_format)
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
        "size": cfg.calibration_size(), "allow_smaller": bool(cfg.select.get("allow_smaller", False)),
    }  # fmt: skip


def check_stage_sections(cfg: StudyConfig) -> None:
    """Validate every stage section through its stage's own config class, before any work.

    Keys are checked with did-you-mean errors, then each section is built (with the values the
    study fills in itself) so the stage's validators run now, not when its first unit starts.
    The restore and diff-stats regions are checked against the region registry.
    """
    filled_values = study_values(cfg)
    for section, (_path, filled) in STAGE_SECTIONS.items():
        cls = stage_config_class(section)
        values = dict(getattr(cfg, section))
        if cls is None:
            continue
        if section == "finetune" and values.get("lr") == AUTO_LR:
            values["lr"] = 1e-5  # a stand-in: the calibrated lr replaces it
        clash = sorted(set(values) & set(filled) & set(cls.model_fields))
        if clash:
            raise ConfigError(f"key '{section}.{clash[0]}' is set by the study itself; remove it")
        check_keys(cls, values, prefix=f"{section}.")
        fixed = {
            k: filled_values[k] for k in filled if k in cls.model_fields and k in filled_values
        }
        build_config(cls, {**values, **fixed}, source=f"study section '{section}'")
    check_regions(cfg)


def check_regions(cfg: StudyConfig) -> None:
    """Every restore / diff-stats region names known regions (one-line error otherwise)."""
    from sftlens.restoration.regions import predicate

    named = [("restore.regions", r) for r in cfg.restore.regions if cfg.restore.enabled]
    if cfg.diff_stats.enabled:
        named.append(("diff_stats.region", cfg.diff_stats.region))
    for key, region in named:
        try:
            predicate(region)
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
    from sftlens.restoration.io import source_from_dir

    resolve_device(cfg.device)
    source_from_dir(cfg.base_model()).names()
