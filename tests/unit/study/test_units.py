"""The unit graph: names, key chaining, which fine-tunes are restored; assembly is order-stable."""

from __future__ import annotations

from pathlib import Path

import pytest

from sftlens.config import load_config
from sftlens.data.records import Fact
from sftlens.runstore import RunDir
from sftlens.study.assemble import assemble
from sftlens.study.config import StudyConfig
from sftlens.study.context import StudyContext
from sftlens.study.graph import build_units
from sftlens.study.scheduler import Unit
from sftlens.tableio import read_table, write_table

BASE = {"world": "w", "grid": {"levels": ["0", "4"], "sizes": [60, 240], "seeds": [0]},
        "restore": {"ks": [1, 20]}}  # fmt: skip


class FakeData:
    facts = [
        Fact(f"f{i}", "P19", f"s{i}", "q?", ("a",), domain="in" if i % 3 else "ood", split=split)
        for i, split in enumerate(["train"] * 6 + ["test"] * 3 + ["dev"] * 2)
    ]
    relations: dict = {}


@pytest.fixture(autouse=True)
def fake_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(StudyContext, "dataset", lambda self: FakeData())


def units_of(tmp_path: Path, **values) -> dict[str, Unit]:
    cfg = load_config(StudyConfig, values={**BASE, **values})
    return {u.name: u for u in build_units(StudyContext(cfg, RunDir(tmp_path)))}


def test_graph_shape(tmp_path: Path):
    units = units_of(tmp_path)
    assert list(units)[:4] == ["probe/chunk-0000", "probe", "select", "base/eval"]
    assert "L0-n60-s0/finetune" in units and units["L0-n60-s0/finetune"].memory
    assert "L4-n240-s0/restore-top-transformer" in units
    assert "L4-n60-s0/restore-top-transformer" not in units  # only the largest size is restored
    assert units["L0-n60-s0/kl"].needs == ("L0-n60-s0/finetune",)
    # probe chunk, probe, select, base eval; per cell ft+eval+kl+diff; 2 restores
    assert len(units) == 4 + 4 * 4 + 2


def test_growing_the_grid_keeps_the_keys_of_existing_cells(tmp_path: Path):
    one = units_of(tmp_path, grid={**BASE["grid"], "seeds": [0]})
    two = units_of(tmp_path, grid={**BASE["grid"], "seeds": [0, 1]})
    assert one["select"].key != two["select"].key  # the sets file is rewritten ...
    shared = [n for n in one if n.startswith("L")]
    assert shared and all(one[n].key == two[n].key for n in shared)  # ... but no cell re-runs
    assert any(n.endswith("-s1/finetune") for n in two)
    lr = units_of(tmp_path, grid={**BASE["grid"], "seeds": [0]}, finetune={"lr": 1e-3})
    assert all(lr[n].key != one[n].key for n in shared)  # a fine-tune setting still does


def test_the_probe_backend_is_part_of_the_probe_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    hf = units_of(tmp_path)
    cfg = load_config(StudyConfig, values=BASE)
    monkeypatch.setattr(
        cfg, "backend", "vllm"
    )  # (vllm needs CUDA to validate; the key is what matters)
    vllm = {u.name: u for u in build_units(StudyContext(cfg, RunDir(tmp_path)))}
    assert vllm["probe"].key != hf["probe"].key
    assert units_of(tmp_path)["probe"].key == hf["probe"].key


def test_deterministic_kernels_change_every_key_only_when_on(tmp_path: Path):
    plain = units_of(tmp_path)
    off = units_of(tmp_path, deterministic=False)
    on = units_of(tmp_path, deterministic=True)
    assert all(off[n].key == plain[n].key for n in plain)  # the default leaves keys as they were
    assert all(on[n].key != plain[n].key for n in plain)


def test_probe_is_chunked_over_the_pool_and_eval_facts(tmp_path: Path):
    units = units_of(tmp_path, probe={"chunk_size": 2})
    chunks = [n for n in units if n.startswith("probe/chunk-")]
    # in-domain train facts (4 of 6) + the 3 test facts; dev facts only under lr: auto
    assert len(chunks) == 4 and list(units)[4] == "probe"
    ctx = StudyContext(load_config(StudyConfig, values=BASE), RunDir(tmp_path))
    ids = [f.id for f in ctx.probed_facts()]
    assert ids == ["f1", "f2", "f4", "f5", "f6", "f7", "f8"]
    capped = StudyContext(
        load_config(StudyConfig, values={**BASE, "test_per_relation": 1}), RunDir(tmp_path)
    )
    assert [f.id for f in capped.eval_facts("test")] == ["f6"]
    assert [f.id for f in capped.probed_facts()] == ["f1", "f2", "f4", "f5", "f6"]
    auto = StudyContext(
        load_config(StudyConfig, values={**BASE, "finetune": {"lr": "auto"}}), RunDir(tmp_path)
    )
    assert [f.id for f in auto.probed_facts()] == [
        "f1",
        "f2",
        "f4",
        "f5",
        "f6",
        "f7",
        "f8",
        "f9",
        "f10",
    ]


def test_keys_chain_through_inputs(tmp_path: Path):
    a = units_of(tmp_path)
    b = units_of(tmp_path, finetune={"lr": 1e-3})
    assert a["probe"].key == b["probe"].key and a["select"].key == b["select"].key
    assert a["L0-n60-s0/eval"].key != b["L0-n60-s0/eval"].key
    c = units_of(tmp_path, restore={"ks": [1, 5]})
    assert a["L0-n60-s0/eval"].key == c["L0-n60-s0/eval"].key
    assert (
        a["L0-n240-s0/restore-top-transformer"].key != c["L0-n240-s0/restore-top-transformer"].key
    )


def test_assemble_sorts_rows_whatever_order_units_finished(tmp_path: Path):
    run = RunDir.create(tmp_path)
    units = [Unit(n, n, lambda o, v: {}) for n in ("x", "y")]
    for name, level in (("x", "4"), ("y", "0")):
        write_table(run.unit_dir(name) / "accuracy.parquet", [
            {"train_level": level, "size": 60, "seed": 0, "restore_k": 0.0, "strategy": "none", "region": "none",
             "test_set": "test", "domain": d, "test_level": -1, "n": 1, "correct": 1, "accuracy": 1.0}
            for d in ("ood", "in")])  # fmt: skip
    assemble(run, units)
    first = read_table(tmp_path / "results" / "accuracy.parquet")
    assert [(r["train_level"], r["domain"]) for r in first] == [
        ("0", "in"),
        ("0", "ood"),
        ("4", "in"),
        ("4", "ood"),
    ]
    assemble(run, units[::-1])
    assert read_table(tmp_path / "results" / "accuracy.parquet") == first
    assert (tmp_path / "results" / "accuracy.csv").is_file()


def test_an_empty_level_pool_is_a_clear_error(tmp_path: Path):
    from sftlens.errors import DataError
    from sftlens.study.context import Cell
    from sftlens.study.units import run_select

    ctx = StudyContext(
        load_config(StudyConfig, values={**BASE, "select": {"allow_smaller": True}}),
        RunDir(tmp_path),
    )
    ctx._cache["levels"] = {f.id: 0 for f in FakeData.facts}
    with pytest.raises(DataError, match=r"L4-n60-s0.*level 4; drop it"):
        run_select(ctx, [Cell("0", 60, 0), Cell("4", 60, 0)], tmp_path / "select")
    assert (tmp_path / "select" / "sets" / "L0-n60-s0.jsonl").is_file()


def test_a_grid_its_pools_cannot_hold_fails_before_any_set(tmp_path: Path):
    from sftlens.errors import DataError
    from sftlens.study.context import Cell
    from sftlens.study.units import run_select

    ctx = StudyContext(load_config(StudyConfig, values=BASE), RunDir(tmp_path))
    ctx._cache["levels"] = {f.id: 0 if i < 3 else 4 for i, f in enumerate(FakeData.facts)}
    cells = [Cell("0", 1, 0), Cell("4", 1, 0), Cell("4", 3, 0)]
    # level 4's pool holds f4, f5 (in-domain train): size 3 cannot be filled
    with pytest.raises(DataError) as err:
        run_select(ctx, cells, tmp_path / "select")
    message = str(err.value)
    assert message.startswith("level 4, size 3: the level's pool holds only 2 ")
    assert "\n" not in message
    assert not (tmp_path / "select").exists()  # failed before any set was written
