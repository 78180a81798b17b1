"""The micro study over several processes (torchrun ranks, --workers): the sequential tables,
no unit run twice, resume after a killed worker, a raising cell stops every process."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest

from integration.test_study import env, micro_config, study_cmd

pytestmark = pytest.mark.slow

TABLES = ("accuracy", "kl", "diff_stats", "diff_groups", "base_accuracy", "mastery")


def torchrun() -> str:
    path = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))
    if not Path(path).exists():
        pytest.skip("torchrun not installed")
    return path


def run(
    cmd: list[str], env_extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, env={**env(), **(env_extra or {})}, capture_output=True, text=True, timeout=600
    )


def assert_same_tables(out: Path, clean: Path) -> None:
    for name in TABLES:  # NaN-aware: levels without test facts have accuracy NaN
        pd.testing.assert_frame_equal(
            pd.read_parquet(out / "results" / f"{name}.parquet"),
            pd.read_parquet(clean / "results" / f"{name}.parquet"),
        )


def assert_each_unit_ran_once(stdout: str) -> None:
    """``N units, ran N``: every unit ran, and the ranks' executed lists add up to no more."""
    found = re.search(r"(\d+) units, ran (\d+) ", stdout)
    assert found and found[1] == found[2], stdout


@pytest.fixture(scope="module")
def sequential(micro_world: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("parallel")
    cfg = micro_config(micro_world, tmp / "micro.yaml")
    proc = run(study_cmd(cfg, tmp / "seq"))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return cfg, tmp / "seq"


@pytest.mark.parametrize("nproc", [2, 3])
def test_torchrun_ranks_give_the_sequential_tables(
    sequential: tuple[Path, Path], tmp_path: Path, nproc: int
):
    cfg, clean = sequential
    launch = [torchrun(), "--standalone", "--nproc_per_node", str(nproc)]  # a free port
    proc = run([*launch, "-m", "sftlens", "-q", "study", str(cfg), "--out", str(tmp_path / "tr")])
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert_each_unit_ran_once(proc.stdout)
    assert_same_tables(tmp_path / "tr", clean)


def test_workers_give_the_sequential_tables(sequential: tuple[Path, Path], tmp_path: Path):
    cfg, clean = sequential
    proc = run([*study_cmd(cfg, tmp_path / "w2"), "--workers", "2"])
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert_each_unit_ran_once(proc.stdout)
    assert_same_tables(tmp_path / "w2", clean)


def test_a_worker_killed_mid_grid_resumes_to_the_same_tables(
    sequential: tuple[Path, Path], tmp_path: Path
):
    cfg, clean = sequential
    out = tmp_path / "killed"
    cmd = [*study_cmd(cfg, out), "--workers", "2"]
    proc = subprocess.Popen(cmd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed = False
    while proc.poll() is None and not killed:
        if list((out / "units").glob("L*/*/unit.json")):  # the grid has started
            workers = [
                p
                for p in psutil.Process(proc.pid).children()
                if "spawn_main" in " ".join(p.cmdline())
            ]
            workers[-1].send_signal(signal.SIGKILL)
            killed = True
        time.sleep(0.05)
    _, err = proc.communicate(timeout=600)
    assert killed, "the study finished before a worker could be killed"
    assert proc.returncode == 2 and "rerun the same command" in err.decode(), err.decode()[-3000:]
    again = run(cmd)
    assert again.returncode == 0, again.stderr[-4000:]
    assert_same_tables(out, clean)


def test_a_raising_cell_stops_every_worker_with_its_name(
    sequential: tuple[Path, Path], tmp_path: Path
):
    cfg, clean = sequential
    out = tmp_path / "broken"
    shutil.copytree(clean, out)
    shutil.rmtree(out / "units" / "L0-n8-s0")  # only this cell is left to run …
    (out / "units" / "select" / "sets" / "L0-n8-s0.jsonl").write_text("{not json\n")  # … and fails
    proc = run([*study_cmd(cfg, out), "--workers", "2"])  # the idle worker must not hang
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("sftlens: error: cell L0-n8-s0: "), last


def test_zero_workers_is_refused(sequential: tuple[Path, Path], tmp_path: Path):
    cfg, _ = sequential
    proc = run([*study_cmd(cfg, tmp_path / "zero"), "--workers", "0"])
    assert proc.returncode == 2 and "workers" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "zero").exists()


def test_ranks_with_different_configs_are_refused(sequential: tuple[Path, Path], tmp_path: Path):
    cfg, _ = sequential
    out = tmp_path / "mixed"
    rdzv = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29543", "WORLD_SIZE": "2"}
    procs = [
        subprocess.Popen(
            [*study_cmd(cfg, out), *extra],
            env={**env(), **rdzv, "RANK": str(rank), "LOCAL_RANK": str(rank)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank, extra in ((0, []), (1, ["grid.seeds=[1]"]))
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [2, 2], errors
    assert all("another config" in e.strip().splitlines()[-1] for e in errors), errors
    assert not list(out.glob("units/**/unit.json"))
