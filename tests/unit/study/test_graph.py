"""The graph's phases: pre-grid waves of independent units, then cells; the parallel order."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftlens.config import load_config
from sftlens.runstore import RunDir, atomic_write_json
from sftlens.study.config import StudyConfig
from sftlens.study.context import StudyContext
from sftlens.study.graph import build_units, grid_cells, pregrid_waves
from sftlens.study.parallel import largest_first
from study.test_units import BASE, FakeData


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StudyContext:
    monkeypatch.setattr(StudyContext, "dataset", lambda self: FakeData())
    return StudyContext(load_config(StudyConfig, values=BASE), RunDir(tmp_path))


def test_the_waves_are_probe_chunks_then_the_merge_then_select_and_base_eval(ctx: StudyContext):
    waves = [[u.name for u in wave] for wave in pregrid_waves(ctx)]
    assert waves == [["probe/chunk-0000"], ["probe"], ["select", "base/eval"]]


def test_a_cell_holds_its_finetune_and_every_consumer(ctx: StudyContext):
    cells = {c.cell.name: c for c in grid_cells(ctx)}
    assert list(cells) == ["L0-n60-s0", "L0-n240-s0", "L4-n60-s0", "L4-n240-s0"]
    big = cells["L4-n240-s0"]
    assert big.restored and not cells["L4-n60-s0"].restored
    assert big.units[0].memory and all(u.needs == (big.units[0].name,) for u in big.units[1:])
    flat = [u.name for wave in pregrid_waves(ctx) for u in wave]
    flat += [u.name for c in grid_cells(ctx) for u in c.units]
    assert flat == [u.name for u in build_units(ctx)]  # the sequential order


def test_cells_are_claimed_largest_first(ctx: StudyContext):
    sizes = {"L0-n60-s0": 60, "L0-n240-s0": 240, "L4-n60-s0": 60, "L4-n240-s0": 200}
    atomic_write_json(ctx.run_dir.unit_dir("select") / "sets.json", sizes)
    order = [c.cell.name for c in largest_first(ctx, grid_cells(ctx))]
    assert order == ["L0-n240-s0", "L4-n240-s0", "L0-n60-s0", "L4-n60-s0"]  # restored, then size
