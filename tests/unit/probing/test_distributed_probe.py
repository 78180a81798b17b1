"""Data-parallel probing: two processes (torchrun, gloo) write the same table as one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sftlens.tableio import read_table

ARGS = ["templates=2", "samples=3", "max_new_tokens=3", "chunk_size=3", "temperature=0.7"]


def _probe(cmd: list[str], model: Path, data: Path, out: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    args = ["probe", "--model", str(model), "--data", f"jsonl:{data}", "--out", str(out)]
    args += ["--device", "cpu", *ARGS]
    proc = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-6000:]


@pytest.mark.slow
def test_two_processes_write_the_same_table(
    tiny_llama_dir: Path, facts_jsonl: Path, tmp_path: Path
) -> None:
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    if not Path(torchrun).exists():
        pytest.skip("torchrun not installed")
    _probe([sys.executable, "-m", "sftlens"], tiny_llama_dir, facts_jsonl, tmp_path / "one")
    two = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "sftlens"]  # a free port
    _probe(two, tiny_llama_dir, facts_jsonl, tmp_path / "two")
    one_rows = read_table(tmp_path / "one" / "mastery.parquet")
    two_rows = read_table(tmp_path / "two" / "mastery.parquet")
    assert len(one_rows) == len(two_rows) > 3  # more than one chunk, so both ranks worked
    assert one_rows == two_rows
