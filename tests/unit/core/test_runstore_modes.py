"""Outputs are shareable: atomic writers respect the umask instead of mkstemp's 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sftlens.runstore import atomic_write_json, atomic_write_text
from sftlens.tableio import write_table


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        paths = [
            atomic_write_json(tmp_path / "metrics.json", {"a": 1}),
            atomic_write_text(tmp_path / "index.html", "<p>x</p>"),
            write_table(tmp_path / "accuracy.csv", [{"a": 1}]),
        ]
        os.umask(0o077)
        private = atomic_write_text(tmp_path / "private.txt", "x")
    finally:
        os.umask(old)
    assert [stat.S_IMODE(p.stat().st_mode) for p in paths] == [0o644] * 3
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
