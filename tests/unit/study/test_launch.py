"""Placing the study's workers: GPU counts and memory, CPU threads, torchrun detection."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from sftlens.config import load_config
from sftlens.errors import ConfigError
from sftlens.study import launch
from sftlens.study.config import StudyConfig


def config(tmp_path: Path, **values: object) -> StudyConfig:
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "model.safetensors").write_bytes(b"\0" * 1000)
    return load_config(StudyConfig, values={"model": str(model), "data": "jsonl:x", **values})


@pytest.fixture
def two_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two GPUs with 15000 bytes free each."""
    monkeypatch.setattr(launch, "gpu_count", lambda cfg: 0 if cfg.device == "cpu" else 2)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda i: (15_000, 20_000))
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: None)


def test_zero_workers_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="workers"):
        config(tmp_path, workers=0)


def test_workers_per_gpu_alone_fills_every_gpu(tmp_path: Path, two_gpus: None):
    assert launch.worker_count(config(tmp_path, workers_per_gpu=3)) == 6
    assert launch.worker_count(config(tmp_path)) == 1
    assert launch.worker_count(config(tmp_path, workers=5)) == 5


def test_more_workers_than_the_gpus_take_is_refused(tmp_path: Path, two_gpus: None):
    launch.check_placement(config(tmp_path), 2)  # one per GPU
    with pytest.raises(ConfigError, match="put 2 on one GPU.*--workers-per-gpu 2"):
        launch.check_placement(config(tmp_path), 3)


def test_workers_that_do_not_fit_in_gpu_memory_are_refused(tmp_path: Path, two_gpus: None):
    launch.check_placement(config(tmp_path, workers_per_gpu=2), 2)  # 1 per GPU: not estimated
    launch.check_placement(config(tmp_path, workers_per_gpu=2), 4)  # 2 x 6 x 1000 bytes fit
    with pytest.raises(
        ConfigError, match="3 workers per GPU need about .* lower --workers-per-gpu"
    ):
        launch.check_placement(config(tmp_path, workers_per_gpu=3), 6)


@pytest.fixture
def eight_cores(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """8 cores, no OMP_NUM_THREADS; returns the thread counts set."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(launch.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    threads: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    return threads


@pytest.fixture
def shares(monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, str]]:
    """Records set_per_process_memory_fraction calls; restores the environment variable."""
    monkeypatch.delenv(launch.FRACTION_ENV, raising=False)
    calls: list[tuple[float, str]] = []
    monkeypatch.setattr(
        torch.cuda, "set_per_process_memory_fraction", lambda f, d: calls.append((f, str(d)))
    )
    return calls


def test_gpu_workers_go_round_robin_and_cpu_workers_split_the_cores(
    tmp_path: Path, two_gpus: None, eight_cores: list[int], shares: list[tuple[float, str]]
):
    assert [launch.place(config(tmp_path), r, 4).device for r in range(4)] == [
        "cuda:0", "cuda:1", "cuda:0", "cuda:1",
    ]  # fmt: skip
    eight_cores.clear()
    assert launch.place(config(tmp_path, device="cpu"), 1, 4).device == "cpu"
    assert eight_cores == [2]


def test_gpu_workers_split_the_cores_too(
    tmp_path: Path, two_gpus: None, eight_cores: list[int], shares: list[tuple[float, str]]
):
    launch.place(config(tmp_path, workers_per_gpu=6), 0, 6)
    launch.place(config(tmp_path, workers_per_gpu=6), 5, 12)
    assert eight_cores == [1, 1]  # 8 // 6, then at least 1 for 12 workers on 8 cores


def test_omp_num_threads_is_left_alone(
    tmp_path: Path,
    two_gpus: None,
    eight_cores: list[int],
    shares: list[tuple[float, str]],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    launch.place(config(tmp_path), 0, 2)
    launch.place(config(tmp_path, device="cpu"), 0, 2)
    assert eight_cores == []


def test_workers_sharing_a_gpu_take_their_share_of_its_memory(
    tmp_path: Path, two_gpus: None, eight_cores: list[int], shares: list[tuple[float, str]]
):
    launch.place(config(tmp_path), 1, 2)  # one worker per GPU: no cap
    assert shares == [] and launch.FRACTION_ENV not in os.environ
    launch.place(config(tmp_path, workers_per_gpu=3), 1, 5)  # ranks 1, 3 on cuda:1
    assert shares == [(launch.GPU_SHARE_MARGIN / 2, "cuda:1")]
    assert float(os.environ[launch.FRACTION_ENV]) == shares[-1][0]
    launch.place(config(tmp_path, workers_per_gpu=3), 4, 5)  # ranks 0, 2, 4 on cuda:0
    assert shares[-1] == (launch.GPU_SHARE_MARGIN / 3, "cuda:0")
    assert float(os.environ[launch.FRACTION_ENV]) == shares[-1][0]


def test_a_named_gpu_is_shared_by_every_local_worker(
    tmp_path: Path,
    two_gpus: None,
    eight_cores: list[int],
    shares: list[tuple[float, str]],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(launch, "gpu_count", lambda cfg: 1)  # as for any "cuda:N"
    assert launch.place(config(tmp_path, device="cuda:1"), 2, 4).device == "cuda:1"
    assert shares == [(launch.GPU_SHARE_MARGIN / 4, "cuda:1")]
    assert 0 < launch.GPU_SHARE_MARGIN <= 1


def test_workers_on_a_gpu_count_the_round_robin_exactly():
    assert [launch.workers_on_gpu(r, 5, 2) for r in range(5)] == [3, 2, 3, 2, 3]
    assert [launch.workers_on_gpu(r, 3, 4) for r in range(3)] == [1, 1, 1]
    assert launch.workers_on_gpu(0, 4, 1) == 4


def test_torchrun_is_detected_from_its_environment(monkeypatch: pytest.MonkeyPatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert not launch.under_torchrun()
    for name, value in {
        "RANK": "0",
        "WORLD_SIZE": "2",
        "MASTER_ADDR": "h",
        "MASTER_PORT": "1",
    }.items():
        monkeypatch.setenv(name, value)
    assert launch.under_torchrun()
