"""Bad input: one-line DataError naming file:line or record id; skip_invalid counts instead."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sftlens.cli import main
from sftlens.data import load_dataset
from sftlens.errors import DataError

GOOD = {"question": "Where was Ada Lovelace born?", "answers": ["London"]}


def _eq(tmp_path: Path, eq_writer: Any, recs: list[Any], rel: str = "P19") -> Path:
    return eq_writer(tmp_path / "eq", {"train": {rel: recs}})


def _raises(spec: str, pattern: str) -> str:
    with pytest.raises(DataError, match=pattern) as info:
        load_dataset(spec)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


BAD_RECORDS = [
    ({"question": "Where was Ada born?"}, "missing field 'answers'"),
    ({"answers": ["London"]}, "missing field 'question'"),
    ({"question": "Where was Ada born?", "answers": []}, "empty answers"),
    ({"question": "Who was Ada's teacher?", "answers": ["De Morgan"]}, "does not fit the template"),
]


@pytest.mark.parametrize(("bad", "pattern"), BAD_RECORDS)
def test_eq_bad_record_names_file_and_id(
    tmp_path: Path, eq_writer: Any, bad: dict, pattern: str
) -> None:
    root = _eq(tmp_path, eq_writer, [GOOD, bad, GOOD])
    msg = _raises(f"entityquestions:{root}", pattern)
    assert "P19.train.json" in msg and "P19/train/1" in msg
    ds = load_dataset(f"entityquestions:{root}", skip_invalid=True)
    assert ds.n_skipped == 1 and len(ds) == 2
    assert [f.id for f in ds] == ["P19/train/0", "P19/train/2"]  # ids stay positional
    assert pattern.split("'")[0] in ds.skipped[0]


def test_eq_malformed_json_file_names_line(tmp_path: Path, eq_writer: Any) -> None:
    root = _eq(tmp_path, eq_writer, [GOOD])
    (root / "dataset/train/P36.train.json").write_text('[\n {"question": "x",\n oops\n]\n')
    msg = _raises(f"entityquestions:{root}", "malformed JSON")
    assert "P36.train.json:3" in msg
    ds = load_dataset(f"entityquestions:{root}", skip_invalid=True)
    assert ds.n_skipped == 1 and len(ds) == 1


def test_eq_jsonl_malformed_line(tmp_path: Path, eq_writer: Any) -> None:
    root = eq_writer(tmp_path / "eq", {"train": {"P19": [GOOD, GOOD]}}, jsonl=True)
    path = root / "dataset/train/P19.train.jsonl"
    path.write_text(path.read_text() + "{not json\n" + json.dumps(GOOD) + "\n")
    msg = _raises(f"entityquestions:{root}", "malformed JSON")
    assert msg.startswith(f"{path}:3:")
    ds = load_dataset(f"entityquestions:{root}", skip_invalid=True)
    assert [f.id for f in ds] == ["P19/train/0", "P19/train/1", "P19/train/3"]


def test_eq_unknown_relation(tmp_path: Path, eq_writer: Any) -> None:
    root = _eq(tmp_path, eq_writer, [{"question": "What is X?", "answers": ["Y"]}], rel="P9999")
    msg = _raises(f"entityquestions:{root}", "unknown relation id P9999")
    assert "P9999.train.json" in msg
    assert load_dataset(f"entityquestions:{root}", skip_invalid=True).n_skipped == 1


def test_eq_duplicate_id_from_json_and_jsonl_copies(tmp_path: Path, eq_writer: Any) -> None:
    root = _eq(tmp_path, eq_writer, [GOOD])
    (root / "dataset/train/P19.train.jsonl").write_text(json.dumps(GOOD) + "\n")
    _raises(f"entityquestions:{root}", "duplicate id P19/train/0")


def _jsonl(tmp_path: Path, rows: list[Any]) -> Path:
    p = tmp_path / "facts.jsonl"
    p.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return p


ROW = {
    "id": "a",
    "relation": "P19",
    "question": "Where was Ada Lovelace born?",
    "answers": ["London"],
}


@pytest.mark.parametrize(
    ("bad", "pattern"),
    [
        ("{broken", "malformed JSON"),
        (
            {k: v for k, v in ROW.items() if k != "relation"} | {"id": "b"},
            "missing field 'relation'",
        ),
        ({**ROW, "id": "b", "answers": []}, "empty answers"),
        ({**ROW, "id": "b", "question": "Who taught Ada?"}, "does not fit the template"),
        ({**ROW, "id": "b", "relation": "P123456"}, "unknown relation id"),
        (ROW, "duplicate id a"),
        ({**ROW, "id": "b", "domain": "out"}, "domain must be one of"),
    ],
)
def test_jsonl_bad_rows_name_line(tmp_path: Path, bad: Any, pattern: str) -> None:
    path = _jsonl(tmp_path, [ROW, bad])
    msg = _raises(f"jsonl:{path}", pattern)
    assert msg.startswith(f"{path}:2")
    ds = load_dataset(f"jsonl:{path}", skip_invalid=True)
    assert ds.n_skipped == 1 and [f.id for f in ds] == ["a"]


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _jsonl(tmp_path, [ROW, {**ROW, "answers": []}])
    assert main(["data", f"jsonl:{path}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("sftlens: error: ") and f"{path}:2" in err[-1]
    assert main(["data", f"jsonl:{path}", "--skip-invalid"]) == 0
    assert "skipped 1 invalid" in capsys.readouterr().out
    assert main(["data", "nosuch:x"]) == 2
    assert "unknown data source 'nosuch'" in capsys.readouterr().err


def test_unknown_preset_and_spec_kind() -> None:
    with pytest.raises(Exception, match="did you mean 'paper-2025'"):
        load_dataset("jsonl:x.jsonl", split_preset="paper-2024")
    with pytest.raises(Exception, match="did you mean 'world'"):
        load_dataset("wrld:x")
