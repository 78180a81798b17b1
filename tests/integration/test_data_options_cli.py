"""The data options from the command line: ``--relations``, ``--aliases``, ``--limit`` agree across stages."""

from __future__ import annotations

from pathlib import Path

from sftlens.cli import main
from sftlens.tableio import read_table
from support.custom_facts import write_custom_facts


def test_probe_then_smaller_limits_downstream(tiny_llama_dir: Path, tmp_path: Path) -> None:
    files = write_custom_facts(tmp_path / "data")
    data = ["--data", f"jsonl:{files.data}", "--relations", str(files.relations),
            "--aliases", str(files.aliases)]  # fmt: skip
    model = str(tiny_llama_dir)
    quick = ["device=cpu", "dtype=float32"]
    probe = ["probe", "--model", model, *data, "--limit", "4", "--out", str(tmp_path / "p")]
    assert main([*probe, "--greedy", "max_new_tokens=2", *quick]) == 0
    mastery = str(tmp_path / "p" / "mastery.parquet")
    assert len(read_table(mastery)) == 16  # 4 per relation and split
    kl = ["token-kl", "--base", model, "--tuned", model, *data, "--mastery", mastery,
          "--limit", "2", "--levels", "0,1,2,3,4", "--out", str(tmp_path / "kl")]  # fmt: skip
    assert main([*kl, *quick]) == 0  # a smaller limit: a subset of the probed facts
    ev = ["evaluate", "--model", model, *data, "--mastery", mastery, "--limit", "3",
          "--out", str(tmp_path / "ev"), "max_new_tokens=2"]  # fmt: skip
    assert main([*ev, *quick]) == 0
    predictions = read_table(tmp_path / "ev" / "predictions.parquet")
    assert sorted(p["id"] for p in predictions) == sorted(
        f"{r}/{i}" for r in ("cap", "emp") for i in (10, 11, 12)
    )
    assert (
        main([*ev[:-3], "--limit", "5", "--out", str(tmp_path / "ev5"), *quick]) == 2
    )  # not probed
