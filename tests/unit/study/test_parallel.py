"""The store protocol of the parallel study: shared queues, barriers, the first error, config checks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch.distributed as dist

from sftlens.config import load_config
from sftlens.errors import SftlensError
from sftlens.study.config import StudyConfig
from sftlens.study.parallel import Comm, StudyAborted

CFG = {"world": "w", "grid": {"levels": ["0"], "sizes": [4], "seeds": [0]}}


def comms(world: int) -> list[Comm]:
    store = dist.HashStore()
    return [Comm(store, rank, world) for rank in range(world)]


def test_a_queue_hands_out_every_index_once():
    a, b = comms(2)
    claimed = [a.claim("cells"), b.claim("cells"), b.claim("cells"), a.claim("cells")]
    assert claimed == [0, 1, 2, 3] and a.claim("other") == 0


def test_a_barrier_waits_for_every_process():
    a, b = comms(2)
    passed: list[int] = []
    thread = threading.Thread(target=lambda: (a.barrier(), passed.append(0)))
    thread.start()
    thread.join(0.2)
    assert passed == []  # a waits for b
    b.barrier()
    thread.join(5)
    assert passed == [0] and a.barriers == b.barriers == 1


def test_a_failure_releases_the_waiting_processes_with_its_message():
    a, b = comms(2)
    raised: list[str] = []

    def wait() -> None:
        try:
            a.barrier()
        except StudyAborted as err:
            raised.append(str(err))

    thread = threading.Thread(target=wait)
    thread.start()
    b.fail("cell L0-n4-s0: boom")
    b.fail("a later error")  # the first error wins
    thread.join(5)
    assert raised == ["cell L0-n4-s0: boom"]
    with pytest.raises(StudyAborted, match="L0-n4-s0"):
        a.claim("cells")


def test_ranks_with_another_config_are_refused(tmp_path: Path):
    a, b = comms(2)
    cfg = load_config(StudyConfig, values=CFG)
    a.check_same_config(cfg, tmp_path)
    b.check_same_config(cfg, tmp_path)
    other = load_config(StudyConfig, values={**CFG, "grid": {**CFG["grid"], "seeds": [1]}})
    with pytest.raises(SftlensError, match="rank 1 was started with another config"):
        b.check_same_config(other, tmp_path)
    with pytest.raises(SftlensError, match="another config or --out"):
        b.check_same_config(cfg, tmp_path / "elsewhere")


def test_a_full_disk_in_a_worker_is_one_line_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    import errno

    from sftlens.runstore import atomic_path
    from sftlens.study.parallel import reported

    a, b = comms(2)
    target = tmp_path / "units" / "probe-00000" / "chunk.parquet"
    with (
        pytest.raises(SftlensError) as err,
        reported(a, ["unit probe-00000"]),
        atomic_path(target),
    ):
        raise OSError(errno.ENOSPC, "No space left on device")
    line = f"unit probe-00000: {target}: no space left on device"
    assert str(err.value) == line and b.error() == line
    assert "Traceback" not in caplog.text
    with pytest.raises(SftlensError), reported(a, ["cell x"]):
        raise KeyError("a bug")  # an unknown error keeps its traceback in the log
    assert "Traceback" in caplog.text


@pytest.mark.parametrize("deterministic", [False, True])
def test_a_share_runs_with_the_studys_kernels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deterministic: bool
):
    import torch

    from sftlens.study import parallel

    monkeypatch.setattr(
        parallel, "_run_share", lambda *args: torch.are_deterministic_algorithms_enabled()
    )
    cfg = load_config(StudyConfig, values={**CFG, "deterministic": deterministic})
    assert parallel.run_ranked(cfg, tmp_path, comms(1)[0]) is deterministic
    assert not torch.are_deterministic_algorithms_enabled()  # restored after the share
