"""Every shipped config loads and validates; the top-level configs/ are links to the package's."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sftlens.config import load_config
from sftlens.configs import CONFIG_DIR, config_names, config_path
from sftlens.errors import ConfigError
from sftlens.study.checks import check_stage_sections
from sftlens.study.config import PLACEHOLDER, StudyConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ALL = sorted(p for p in CONFIGS.rglob("*.yaml") if "accelerate" not in p.parts)


def test_top_level_configs_are_links_to_the_packaged_ones():
    """One owner: sftlens/configs/*.yaml (package data); configs/*.yaml link to it."""
    assert [p.stem for p in ALL] == config_names()
    for path in ALL:
        assert path.is_symlink() and path.resolve() == (CONFIG_DIR / path.name).resolve(), (
            f"{path} must be a link to src/sftlens/configs/{path.name}"
        )
    with pytest.raises(
        ConfigError, match=r"no shipped config 'demo-tiyn' \(did you mean 'demo-tiny'\?\)"
    ):
        config_path("demo-tiyn")


def is_study(path: Path) -> bool:
    data = yaml.safe_load(path.read_text()) or {}
    return isinstance(data, dict) and "grid" in data and ("world" in data or "model" in data)


def test_the_study_configs_ship():
    names = {p.name for p in ALL}
    assert {"demo-tiny.yaml", "world-gpu.yaml", "paper-llama3-8b.yaml"} <= names
    assert {"paper-gemma3-270m.yaml", "gemma3-270m-cpu.yaml"} <= names


def test_gemma_configs_use_geo_and_the_paper_settings():
    paper = load_config(StudyConfig, CONFIGS / "paper-gemma3-270m.yaml", ["model=/m"])
    assert paper.data == "geo:" and paper.grid.levels == ["0", "1", "2", "3", "4"]
    # the paper's sizes up to the smallest level pool of the measured probe (730 facts)
    assert paper.grid.sizes == [60, 120, 240, 480] and paper.grid.seeds == [0, 1, 2]
    assert not paper.select.allow_smaller  # a pool smaller than a size stops the study early
    finetune, evaluate = paper.finetune.given(), paper.evaluate.given()
    assert finetune["lr"] == 1.0e-5 and finetune["batch_size"] == 8
    assert evaluate["matching"] == "contains"
    assert set(paper.restore.strategies) == {"top", "random", "bottom"}
    assert paper.restore.ks == [1, 3, 5, 10, 20, 40, 60] and paper.restore.which == "largest"
    cpu = load_config(StudyConfig, CONFIGS / "gemma3-270m-cpu.yaml", ["model=/m"])
    assert cpu.device == "cpu" and (cpu.data or "").startswith("geo:")
    assert (len(cpu.grid.levels), len(cpu.grid.sizes), len(cpu.grid.seeds)) == (2, 3, 2)
    with pytest.raises(ConfigError, match="model still holds the placeholder"):
        load_config(StudyConfig, CONFIGS / "paper-gemma3-270m.yaml")


@pytest.mark.parametrize("path", ALL, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_is_valid(path: Path):
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path}: top level must be a mapping"
    if not is_study(path):
        pytest.skip(f"{path.name} is not a study config (e.g. an accelerate config)")
    fill = {"data": "data=entityquestions:/eq", "model": "model=/models/base"}
    overrides = [fill[k] for k in fill if PLACEHOLDER in str(data.get(k, ""))]
    cfg = load_config(StudyConfig, path, overrides)
    check_stage_sections(cfg)
    assert cfg.grid.levels and cfg.grid.sizes and cfg.grid.seeds


@pytest.mark.parametrize("name", ["demo-tiny.yaml", "world-gpu.yaml"])
def test_world_grids_follow_the_paper_rules(name: str):
    cfg = load_config(StudyConfig, CONFIGS / name)
    sizes = sorted(int(s) for s in cfg.grid.sizes)
    assert cfg.grid.levels == ["0", "1", "2", "3", "4"] and len(cfg.grid.seeds) >= 3
    assert len(sizes) >= 5 and sizes[-1] >= 16 * sizes[0]
    assert cfg.restore.ks == [1, 3, 5, 10, 20, 40, 60]
    assert set(cfg.restore.strategies) == {"top", "random", "bottom"}
    assert cfg.restored_sizes() == [sizes[-1]]
    # a too-small pool fails the tiny grid; the gpu world's smallest pool can fall just short
    assert cfg.select.allow_smaller is (name == "world-gpu.yaml")


@pytest.mark.parametrize(
    "path", sorted((CONFIGS / "accelerate").glob("*.yaml")), ids=lambda p: p.name
)
def test_accelerate_config_loads(path: Path):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(path))
    assert cfg.num_processes >= 1 and not cfg.use_cpu
    assert str(cfg.distributed_type).endswith(("FSDP", "MULTI_GPU"))
