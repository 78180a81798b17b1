"""Data checks: empty files, typed fields, nested JSON, non-UTF-8 files; one line each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sftlens.cli import main
from sftlens.data import load_dataset
from sftlens.errors import DataError

ROW = {
    "id": "a1",
    "relation": "P19",
    "question": "Where was Ada Lovelace born?",
    "answers": ["London"],
}


def _jsonl(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "facts.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_sftlens_data_on_an_empty_file_exits_2_naming_it(tmp_path, capsys, text):
    path = tmp_path / "empty.jsonl"
    path.write_text(text)
    assert main(["data", f"jsonl:{path}"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "empty" in err and err.count("\n") == 1


def test_sftlens_data_with_no_facts_left_exits_2(tmp_path, capsys):
    path = _jsonl(tmp_path, json.dumps({**ROW, "relation": "P999"}))
    assert main(["data", f"jsonl:{path}", "--skip-invalid"]) == 2
    assert "no facts loaded" in capsys.readouterr().err


BAD_FIELDS = [
    ({"aliases": [1, 2]}, "'aliases' must be a list of strings"),
    ({"role": 3}, "role must be one of pool, pretrain_qa"),
    ({"meta": "note"}, "'meta' must be a JSON object, got str"),
    ({"meta": [1]}, "'meta' must be a JSON object, got list"),
    ({"exposure": True}, "'exposure' must be an integer"),
]


@pytest.mark.parametrize(("extra", "pattern"), BAD_FIELDS)
def test_bad_field_types_name_file_and_line(tmp_path, extra, pattern):
    path = _jsonl(tmp_path, json.dumps(ROW), json.dumps({**ROW, "id": "a2", **extra}))
    with pytest.raises(DataError, match=pattern) as info:
        load_dataset(f"jsonl:{path}")
    assert f"{path}:2" in str(info.value) and "\n" not in str(info.value)


def test_a_deeply_nested_line_is_one_line(tmp_path, capsys):
    path = _jsonl(tmp_path, json.dumps(ROW), "[" * 100_000 + "]" * 100_000)
    assert main(["data", f"jsonl:{path}"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: JSON nested too deeply" in err and err.count("\n") == 1


def test_tableio_names_a_deeply_nested_line(tmp_path):
    from sftlens.tableio import read_table

    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n' + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(DataError, match=r"t.jsonl:2: JSON nested too deeply"):
        read_table(path)


def test_non_utf8_templates_and_alias_files_are_named(tmp_path):
    path = _jsonl(tmp_path, json.dumps(ROW))
    bad = tmp_path / "templates.yaml"
    bad.write_bytes(b"P19:\n  name: born \xff\xfe\n")
    with pytest.raises(DataError, match=r"templates.yaml: not valid UTF-8"):
        load_dataset(f"jsonl:{path}", templates=bad)
    aliases = tmp_path / "aliases.yaml"
    aliases.write_bytes(b"London: [\xff]\n")
    with pytest.raises(DataError, match=r"aliases.yaml: not valid UTF-8"):
        load_dataset(f"jsonl:{path}", aliases=[str(aliases)])
