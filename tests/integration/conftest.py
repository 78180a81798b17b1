"""Shared fixtures of the CLI tests: the bad-input workspace, a file-tree snapshot, an
in-process CLI call.

Example::

    def test_x(ws, capsys):
        before = snapshot(ws)
        code, err = run_cli(["-q", "data", f"jsonl:{ws}/facts.jsonl"], capsys)
        assert snapshot(ws) == before
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import pytest

from sftlens.cli import main
from sftlens.tableio import write_table

NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi"]
CITIES = ["Paris", "Berlin", "Rome", "Madrid", "Oslo", "Lima", "Cairo", "Tokyo"]


def fact_rows() -> list[dict]:
    return [
        {
            "id": f"f{i}",
            "relation": "P19",
            "subject": name,
            "question": f"Where was {name} born?",
            "answers": [city],
            "split": "test" if i % 2 else "train",
        }
        for i, (name, city) in enumerate(zip(NAMES, CITIES, strict=True))
    ]


def mastery_rows(level_of=lambda i: i % 5) -> list[dict]:
    return [
        {"id": f"f{i}", "relation": "P19", "domain": "in", "R": 0.0, "level": level_of(i)}
        for i in range(len(NAMES))
    ]


def broken_model(src: Path, dst: Path, weights: bytes) -> Path:
    shutil.copytree(src, dst)
    (dst / "model.safetensors").write_bytes(weights)
    return dst


def build_workspace(root: Path, model: Path) -> Path:
    """The shared inputs, good and bad (see the module docstring)."""
    shutil.copytree(model, root / "model")
    write_table(root / "facts.jsonl", fact_rows())
    write_table(root / "mastery.parquet", mastery_rows())
    write_table(root / "level9.parquet", mastery_rows(lambda i: 9))
    write_table(root / "other_mastery.parquet", [{"id": "zz", "level": 1}])
    write_table(root / "nolevel.parquet", [{"id": "f0"}])
    (root / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    sft = [{"id": "f0", "question": "Where was Alice born?", "answer": "Paris"}]
    write_table(root / "set.jsonl", sft)
    (root / "bad_utf8.jsonl").write_bytes(
        (json.dumps(sft[0]) + "\n").encode() + b'{"question": "\xff\xfe"}\n'
    )
    (root / "bad_json.jsonl").write_text(json.dumps(sft[0]) + "\n{not json\n")
    (root / "noanswer.jsonl").write_text('{"question": "Where?"}\n')
    (root / "empty.jsonl").write_text("")
    (root / "array.jsonl").write_text("[1, 2]\n")
    (root / "bad.yaml").write_text("samples: [1, 2\n")
    (root / "list.yaml").write_text("- 1\n- 2\n")
    (root / "bad_utf8.yaml").write_bytes(b"samples: \xff\n")
    (root / "unknown.yaml").write_text("no_such_key: 1\n")
    (root / "study_unknown.yaml").write_text("name: x\nworld: .\ngrid: {levelz: [0]}\n")
    (root / "world" / "world").mkdir(parents=True)  # what a study checks of a world up front
    world_facts = [
        {
            **r,
            "object": r["answers"][0],
            "aliases": [],
            "exposure": 1,
            "domain": "in",
            "role": "pool",
        }
        for r in fact_rows()
    ]
    write_table(root / "world" / "world" / "facts.jsonl", world_facts)
    shutil.copytree(model, root / "world" / "model")
    (root / "world" / "world" / "relations.yaml").write_text(
        "relations:\n  P19:\n    name: place of birth\n    domain: in\n"
        "    question: Where was {subject} born?\n    statements: ['{subject} was born in']\n"
    )
    head = f"name: x\nworld: {root / 'world'}\ngrid: {{levels: ['0'], sizes: [2], seeds: [0]}}\n"
    (root / "study_stage_value.yaml").write_text(head + "finetune: {lr: 5}\n")
    (root / "study_stage_type.yaml").write_text(head + "probe: {samples: lots}\n")
    (root / "study_noworld.yaml").write_text(f"name: x\nworld: {root / 'nope'}\n")
    (root / "study_stage_key.yaml").write_text(head + "finetune: {lrate: 0.1}\n")
    (root / "table.txt").write_text("id level\n")
    (root / "afile").write_text("a regular file\n")
    (root / "nonempty").mkdir()
    (root / "nonempty" / "keep.txt").write_text("keep\n")
    weights = (model / "model.safetensors").read_bytes()
    broken_model(model, root / "garbage_model", b"\x00\x01garbage" * 100)
    broken_model(model, root / "truncated_model", weights[: len(weights) // 2])
    broken_model(model, root / "ff_model", b"\xff" * 8 + weights[8:])
    broken_model(model, root / "huge_model", struct.pack("<Q", 1 << 40) + weights[8:])
    return root


@pytest.fixture(scope="session")
def ws(tiny_llama_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_workspace(tmp_path_factory.mktemp("bad_input"), tiny_llama_dir)


def snapshot(root: Path) -> dict[str, str]:
    """relative path → content digest (files) or ``dir``, over the whole tree."""
    tree = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        tree[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return tree


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    return code, capsys.readouterr().err
