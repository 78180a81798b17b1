"""``sftlens select`` end to end on a small JSONL dataset and mastery table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sftlens.cli import main
from sftlens.errors import DataError
from sftlens.selection.config import SelectConfig
from sftlens.selection.stage import run
from sftlens.tableio import read_table, write_table

RELS = {"P17": "in", "P19": "in", "P36": "in", "P50": "ood"}


@pytest.fixture()
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    facts, mastery = [], []
    for rel, domain in RELS.items():
        for i in range(30):
            split = "test" if i % 5 == 0 else "train"
            fid = f"{rel}-{i}"
            facts.append(
                {
                    "id": fid,
                    "relation": rel,
                    "subject": f"Subj{i}",
                    "question": f"Question about Subj{i}?",
                    "answers": [f"Obj{i}"],
                    "split": split,
                    "domain": domain,
                }
            )
            mastery.append(
                {
                    "id": fid,
                    "relation": rel,
                    "domain": domain,
                    "split": split,
                    "level": (i // 6) % 5,
                    "R": ((i // 6) % 5) / 4,
                }
            )
    data = tmp_path / "facts.jsonl"
    data.write_text("".join(json.dumps(f) + "\n" for f in facts))
    return data, write_table(tmp_path / "probe" / "mastery.parquet", mastery)


def test_writes_sets_and_manifest(inputs, tmp_path):
    data, mastery = inputs
    cfg = SelectConfig(
        mastery=str(mastery),
        data=f"jsonl:{data}",
        levels=["0", "1+2", "random"],
        sizes=[6, "all"],
        seeds=2,
    )
    result = run(cfg, tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert set(result.sets) == set(manifest["sets"]) and len(result.sets) == 12
    rows = read_table(tmp_path / "out" / "sets" / "L1+2-n6-s1.jsonl")
    assert len(rows) == 6 and set(rows[0]) >= {"id", "relation", "level", "question", "answer"}
    entry = manifest["sets"]["L1+2-n6-s1"]
    assert entry["by_relation"] == {"P17": 2, "P19": 2, "P36": 2}
    assert sum(entry["by_level"].values()) == 6 and set(entry["by_level"]) <= {"1", "2"}
    assert manifest["pools"] == {"0": 12, "1+2": 30, "random": 72}
    everything = read_table(tmp_path / "out" / "sets" / "Lrandom-nall-s0.jsonl")
    assert {r["relation"] for r in everything} == {"P17", "P19", "P36"}  # no OOD
    assert all(int(r["id"].split("-")[1]) % 5 != 0 for r in everything)  # no test facts


def test_unfillable_size_writes_nothing(inputs, tmp_path):
    data, mastery = inputs
    cfg = SelectConfig(
        mastery=str(mastery), data=f"jsonl:{data}", levels=["1"], sizes=[1000], seeds=1
    )
    with pytest.raises(DataError, match="pool holds 15 "):
        run(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    cfg.allow_smaller = True
    assert run(cfg, tmp_path / "out").sets == {"L1-n1000-s0": 15}


def test_cli(inputs, tmp_path, capsys):
    data, mastery = inputs
    out = tmp_path / "cli"
    argv = [
        "select",
        "--mastery",
        str(mastery),
        "--data",
        f"jsonl:{data}",
        "--levels",
        "3,4",
        "--sizes",
        "5",
        "--seeds",
        "1",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    assert "wrote 2 SFT sets" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "sets").iterdir()) == ["L3-n5-s0.jsonl", "L4-n5-s0.jsonl"]
    assert main(argv) == 2  # non-empty --out without --force
    assert main([*argv[:-2], "--levels", "7", "--out", str(tmp_path / "bad")]) == 2


def test_a_mastery_table_of_other_data_is_refused(inputs, tmp_path):
    data, mastery = inputs
    rows = read_table(mastery)
    other = write_table(tmp_path / "other.parquet", [*rows, {"id": "zz-1", "level": 0}])
    cfg = SelectConfig(mastery=str(other), data=f"jsonl:{data}", levels=["0"], sizes=[2], seeds=1)
    with pytest.raises(DataError, match=r"other.parquet: 1 of 121 fact ids are unknown to jsonl:"):
        run(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_empty_level_is_named(inputs, tmp_path):
    data, mastery = inputs
    rows = [{**r, "level": 0 if r["level"] == 4 else r["level"]} for r in read_table(mastery)]
    table = write_table(tmp_path / "no4.parquet", rows)
    cfg = SelectConfig(mastery=str(table), data=f"jsonl:{data}", levels=["4"], sizes=["all"])
    with pytest.raises(DataError, match=r"level 4: no in-domain train facts at this level"):
        run(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_mastery_table_with_the_wrong_schema_names_the_columns(inputs, tmp_path):
    data, _ = inputs
    table = write_table(tmp_path / "bad.parquet", [{"fact": "P17-1", "R": 0.5}])
    cfg = SelectConfig(mastery=str(table), data=f"jsonl:{data}", levels=["0"], sizes=[2])
    with pytest.raises(DataError, match=r"missing column\(s\) id, level"):
        run(cfg, tmp_path / "out")
