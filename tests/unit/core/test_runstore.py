from __future__ import annotations

import json

import pytest

from sftlens.errors import SftlensError
from sftlens.outdir import ensure_out_dir
from sftlens.runstore import RunDir, atomic_path, atomic_write_json, content_hash
from sftlens.tableio import read_table, write_table


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "a.json"
    atomic_write_json(p, {"x": 1})
    atomic_write_json(p, {"x": 2})
    assert json.loads(p.read_text()) == {"x": 2}
    assert [q.name for q in tmp_path.iterdir()] == ["a.json"]


def test_atomic_path_failure_keeps_old(tmp_path):
    p = tmp_path / "d"
    p.mkdir()
    (p / "old").write_text("1")
    with pytest.raises(RuntimeError), atomic_path(p) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("2")
        raise RuntimeError("killed")
    assert [q.name for q in p.iterdir()] == ["old"]
    assert len(list(tmp_path.iterdir())) == 1


def test_content_hash_is_order_free():
    assert content_hash({"a": 1, "b": [1, 2]}) == content_hash({"b": [1, 2], "a": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


def test_unit_markers(tmp_path):
    run = RunDir.create(tmp_path / "run", config={"x": 1}, seed=3)
    assert run.manifest()["seed"] == 3 and "torch" in run.manifest()["versions"]
    assert not run.unit_done("u", "k1")
    run.mark_done("u", "k1", {"seconds": 1})
    assert run.unit_done("u", "k1") and not run.unit_done("u", "k2")


def test_ensure_out_dir(tmp_path):
    d = tmp_path / "o"
    ensure_out_dir(d)
    (d / "f").write_text("x")
    with pytest.raises(SftlensError, match="not empty"):
        ensure_out_dir(d)
    ensure_out_dir(d, force=True)


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl", ".csv"])
def test_tables_roundtrip(tmp_path, suffix):
    rows = [{"id": "a", "n": 1, "r": 0.5}, {"id": "b", "n": 2, "r": 1.0}]
    out = read_table(write_table(tmp_path / f"t{suffix}", rows))
    assert [str(r["id"]) for r in out] == ["a", "b"]
    assert [float(r["r"]) for r in out] == [0.5, 1.0]


def test_json_safe_turns_nan_into_null(tmp_path):
    from sftlens.runstore import json_safe

    out = json_safe({"a": float("nan"), "b": [1.0, float("nan")], "c": "x"})
    assert out == {"a": None, "b": [1.0, None], "c": "x"}
    atomic_write_json(tmp_path / "m.json", out)
    assert "NaN" not in (tmp_path / "m.json").read_text()
