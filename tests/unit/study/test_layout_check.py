"""A study whose model's layers cannot be read fails before any probing, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftlens.errors import SftlensError
from sftlens.study.checks import check_model_layout
from sftlens.study.config import StudyConfig
from sftlens.study.stage import run


def test_unknown_layout_fails_before_any_unit(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "nosuch"}')
    cfg = StudyConfig(model=str(model), data="jsonl:facts.jsonl")
    with pytest.raises(SftlensError, match="unknown architecture 'nosuch'"):
        check_model_layout(cfg)
    with pytest.raises(SftlensError, match="unknown architecture 'nosuch'"):
        run(cfg, tmp_path / "out")
    assert not (tmp_path / "out" / "units").exists()
    off = StudyConfig(model=str(model), data="jsonl:x", restore={"enabled": False},
                      diff_stats={"enabled": False})  # fmt: skip
    check_model_layout(off)  # weight-level stages off: nothing to check


def test_study_data_options_reach_every_stage() -> None:
    from sftlens.config import ConfigError, build_config

    cfg = build_config(StudyConfig, {"model": "m", "data": "jsonl:x", "relations": "r.yaml",
                                     "aliases": ["a.yaml"], "limit": 5})  # fmt: skip
    assert cfg.data_options() == {"split_preset": "paper-2025", "templates": "r.yaml",
                                  "aliases": ["a.yaml"], "limit": 5}  # fmt: skip

    with pytest.raises(ConfigError, match="'evaluate.limit' is set by the study itself"):
        build_config(StudyConfig, {"model": "m", "data": "jsonl:x", "evaluate": {"limit": 3}})


def test_probe_dtype_may_differ_from_the_study_dtype(tmp_path: Path) -> None:
    from sftlens.config import build_config
    from sftlens.runstore import RunDir
    from sftlens.study.context import StudyContext

    values = {"model": "m", "data": "jsonl:x", "dtype": "float32"}
    bf16 = build_config(StudyConfig, {**values, "probe": {"dtype": "bfloat16"}})
    ctx = StudyContext(bf16, RunDir(tmp_path / "run"))
    fixed = {"model": "m", "data": "jsonl:x", "mastery": "m.parquet"}
    assert bf16.probe.config(**ctx.common(), **fixed).dtype == "bfloat16"
    assert bf16.evaluate.config(**ctx.common(), **fixed).dtype == "float32"
    plain = build_config(StudyConfig, values)
    assert (
        plain.probe.config(**StudyContext(plain, RunDir(tmp_path / "r2")).common(), **fixed).dtype
        == "float32"
    )


def test_r_eps_enters_the_keys_of_ranking_units_only_when_set() -> None:
    from sftlens.config import build_config
    from sftlens.study.graph import r_eps_key

    paper = build_config(StudyConfig, {"model": "m", "data": "jsonl:x"})
    assert paper.restore.r_eps == 1e-8 and r_eps_key(paper) == {}
    bounded = build_config(
        StudyConfig, {"model": "m", "data": "jsonl:x", "restore": {"r_eps": 1e-4}}
    )
    assert r_eps_key(bounded) == {"r_eps": 1e-4}
    with pytest.raises(Exception, match="r_eps"):
        build_config(StudyConfig, {"model": "m", "data": "jsonl:x", "restore": {"r_eps": 0}})


def test_fuse_norms_enters_the_section_keys_only_when_set(tmp_path: Path) -> None:
    from sftlens.config import build_config
    from sftlens.evaluation.evaluate import generation_config
    from sftlens.probing.probe import generation_config as probe_generation
    from sftlens.runstore import RunDir
    from sftlens.study.context import StudyContext

    values = {"model": "m", "data": "jsonl:x"}
    fixed = {"model": "m", "data": "jsonl:x", "mastery": "m.parquet"}
    plain = build_config(StudyConfig, values)
    assert "fuse_norms" not in plain.evaluate.given() | plain.probe.given()  # keys as before
    fused = build_config(StudyConfig, {**values, "evaluate": {"fuse_norms": True}})
    assert fused.evaluate.given() == {"fuse_norms": True}  # every evaluation key changes
    assert fused.probe.given() == plain.probe.given()  # the probe's does not
    common = StudyContext(fused, RunDir(tmp_path / "run")).common()
    assert generation_config(fused.evaluate.config(**common, **fixed)).fuse_norms is True
    assert probe_generation(fused.probe.config(**common, **fixed)).fuse_norms is False
    probed = build_config(StudyConfig, {**values, "probe": {"fuse_norms": True}})
    assert probe_generation(probed.probe.config(**common, **fixed)).fuse_norms is True
