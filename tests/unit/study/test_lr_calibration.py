"""``finetune.lr: auto`` in the unit graph: calibrate before the grid; keys hash the chosen lr."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftlens.config import load_config
from sftlens.data.records import Fact
from sftlens.errors import ConfigError
from sftlens.runstore import RunDir, atomic_write_json
from sftlens.study.config import StudyConfig
from sftlens.study.context import StudyContext
from sftlens.study.graph import build_units
from sftlens.study.lr_calibration import CALIBRATE, chosen_lr
from sftlens.study.scheduler import Unit

BASE = {"world": "w", "grid": {"levels": ["0", "4"], "sizes": [60, 240, 960], "seeds": [0]},
        "restore": {"enabled": False}, "finetune": {"lr": "auto", "batch_size": 4}}  # fmt: skip


def facts(dev: bool) -> list[Fact]:
    splits = ["train"] * 6 + ["test"] * 3 + (["dev"] * 3 if dev else [])
    out = [Fact(f"f{i}", "P19", f"s{i}", "q?", ("a",), domain="in" if i % 3 else "ood", split=s)
           for i, s in enumerate(splits)]  # fmt: skip
    return [*out, Fact("qa", "P19", "s", "q?", ("a",), split="dev", role="pretrain_qa")]


def context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dev: bool = True, **values
) -> StudyContext:
    data = type("D", (), {"facts": facts(dev), "relations": {}})()
    monkeypatch.setattr(StudyContext, "dataset", lambda self: data)
    return StudyContext(load_config(StudyConfig, values={**BASE, **values}), RunDir(tmp_path))


def finish_calibration(ctx: StudyContext, units: list[Unit], lr: float) -> None:
    unit = next(u for u in units if u.name == CALIBRATE)
    atomic_write_json(ctx.run_dir.unit_dir(CALIBRATE) / "choice.json", {"lr": lr})
    ctx.run_dir.mark_done(CALIBRATE, unit.key)


def test_grid_units_wait_for_the_calibration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    ctx = context(tmp_path, monkeypatch)
    before = build_units(ctx)
    names = [u.name for u in before]
    assert names[-1] == CALIBRATE and names.index("select") < names.index(CALIBRATE)
    assert not any(n.startswith("L") for n in names)
    finish_calibration(ctx, before, 1e-4)
    after = {u.name: u for u in build_units(ctx)}
    assert "L0-n60-s0/finetune" in after and after[CALIBRATE].key == before[-1].key
    assert chosen_lr(ctx) == 1e-4 and ctx.cfg.finetune.given() == {"lr": "auto", "batch_size": 4}
    assert ctx.cfg.finetune.config(lr=chosen_lr(ctx)).lr == 1e-4


def test_finetune_keys_hash_the_chosen_lr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    ctx = context(tmp_path / "a", monkeypatch)
    finish_calibration(ctx, build_units(ctx), 1e-4)
    auto = {u.name: u.key for u in build_units(ctx)}
    # another lr grid that makes the same choice: the same fine-tune keys (nothing re-trains)
    grid = context(tmp_path / "b", monkeypatch, calibrate={"lrs": [1e-4, 1e-3]})
    finish_calibration(grid, build_units(grid), 1e-4)
    same = {u.name: u.key for u in build_units(grid)}
    assert same[CALIBRATE] != auto[CALIBRATE]
    assert all(same[n] == auto[n] for n in auto if n.startswith("L"))
    finish_calibration(ctx, build_units(ctx), 3e-4)
    other = {u.name: u.key for u in build_units(ctx)}
    assert other["L4-n960-s0/finetune"] != auto["L4-n960-s0/finetune"]


def test_the_lr_grid_is_in_the_calibration_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    one = build_units(context(tmp_path, monkeypatch))[-1]
    two = build_units(context(tmp_path, monkeypatch, calibrate={"lrs": [1e-4]}))[-1]
    assert one.name == two.name == CALIBRATE and one.key != two.key


def test_dev_facts_are_probed_only_with_lr_auto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    auto = {f.split for f in context(tmp_path, monkeypatch).probed_facts()}
    fixed = context(tmp_path, monkeypatch, finetune={"lr": 1e-4}).probed_facts()
    assert "dev" in auto and "dev" not in {f.split for f in fixed}
    assert not any(f.role == "pretrain_qa" for f in context(tmp_path, monkeypatch).probed_facts())


def test_no_dev_split_is_refused_while_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(ConfigError, match="needs a 'dev' split.*splits: test, train"):
        build_units(context(tmp_path, monkeypatch, dev=False))
    assert not (tmp_path / "units").exists()
