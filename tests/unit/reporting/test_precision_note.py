"""The report names the precision mode the study's fine-tunes ran in (from their train logs)."""

from __future__ import annotations

from pathlib import Path

from sftlens.reporting.tables import finetune_precision
from sftlens.tableio import write_table


def test_finetune_precision_reads_the_train_logs(tmp_path: Path) -> None:
    assert finetune_precision(tmp_path) is None
    for cell, mode in (("L0-n5-s0", "fp32-master"), ("L1-n5-s0", "fp32-master")):
        write_table(
            tmp_path / "units" / cell / "finetune" / "log.jsonl", [{"step": 1, "precision": mode}]
        )
    assert finetune_precision(tmp_path) == "fp32-master"
    write_table(
        tmp_path / "units" / "L2-n5-s0" / "finetune" / "log.jsonl",
        [{"step": 1, "precision": "pure"}],
    )
    assert finetune_precision(tmp_path) == "fp32-master, pure"
