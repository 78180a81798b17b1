"""Controls beside the grid: the steps-matched and lr-sensitivity cells, apart from the grid."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftlens.config import load_config
from sftlens.errors import SftlensError
from sftlens.runstore import RunDir
from sftlens.study.config import StudyConfig
from sftlens.study.controls import STEPS_MATCHED, control_cells, steps_matched_epochs
from sftlens.study.graph import cells_of, grid_cells
from sftlens.study.units import StudyContext
from study.test_units import BASE, FakeData


def study(**controls) -> StudyConfig:
    values = {**BASE, "finetune": {"lr": 1e-4, "batch_size": 8}, "controls": controls}
    return load_config(StudyConfig, values=values)


def test_steps_matched_epochs_give_the_largest_size_steps():
    assert steps_matched_epochs(1, 8, 5, 80) == 10  # 1 step per epoch vs 10
    assert steps_matched_epochs(1, 8, 60, 1920) == 30  # 8 steps per epoch vs 240
    assert steps_matched_epochs(2, 8, 60, 240) == 8  # 60 steps / 8 per epoch, rounded
    assert steps_matched_epochs(3, 8, 80, 80) == 3  # never fewer than the grid's epochs


def test_no_controls_by_default():
    assert control_cells(study(), {"lr": 1e-4}) == []


def test_steps_matched_cells_are_the_smallest_size_of_every_level_and_seed():
    cfg = study(steps_matched=True)
    cells = control_cells(cfg, {"lr": 1e-4, "batch_size": 8, "epochs": 1})
    assert {c.control for c in cells} == {STEPS_MATCHED}
    assert [(c.cell.level, c.cell.size, c.cell.seed) for c in cells] == [("0", 60, 0), ("4", 60, 0)]
    assert all(c.changes == {"epochs": 4} for c in cells)  # 30 steps at n=240 / 8 per epoch
    assert cells[0].name == "controls/steps-matched/L0-n60-s0"
    grid = {c.name for c in cells_of(cfg)}
    assert all(c.cell.name in grid for c in cells)  # the grid cell's SFT set is reused


def test_lr_sensitivity_cells_cover_levels_and_sizes_of_the_first_seed():
    cfg = study(lr_sensitivity=[1e-5])
    cells = control_cells(cfg, {"lr": 1e-4})
    assert len(cells) == 4 and {c.control for c in cells} == {"lr=1e-05"}
    assert all(c.changes == {"lr": 1e-5} and c.cell.seed == 0 for c in cells)


def test_controls_are_typed_settings():
    with pytest.raises(SftlensError, match="steps_matchd|did you mean"):
        study(steps_matchd=True)
    with pytest.raises(SftlensError):
        study(lr_sensitivity=[-1.0])


def test_grid_cells_append_the_controls_after_the_grid(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(StudyContext, "dataset", lambda self: FakeData())
    ctx = StudyContext(study(steps_matched=True, lr_sensitivity=[1e-5]), RunDir(tmp_path))
    groups = grid_cells(ctx)
    names = [u.name for g in groups for u in g.units]
    grid = [n for n in names if not n.startswith("controls/")]
    controls = [n for n in names if n.startswith("controls/")]
    assert names == grid + controls  # the paper's cells first, controls apart
    assert "controls/steps-matched/L4-n60-s0/finetune" in controls
    assert "controls/lr=1e-05/L0-n240-s0/eval" in controls
    assert not any(g.restored for g in groups if g.units[0].name.startswith("controls/"))
    assert not any("restore" in n or "/kl" in n for n in controls)
