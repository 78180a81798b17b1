"""Starting the study's processes: ``--workers N`` on one host, or the ranks of ``torchrun``.

``--workers N`` starts N processes with ``torch.multiprocessing`` around a c10d
``TCPStore`` that this process hosts; under ``torchrun`` (one host or several, any
rendezvous) each rank joins through ``env://``.  Either way every process runs
:func:`sftlens.study.parallel.run_ranked` on its own device: GPUs round-robin by local
rank (at most ``workers_per_gpu`` per GPU, checked against the free memory), or the CPU.
The host's cores are split between its workers either way, and each worker on a shared GPU
is capped at its share of the GPU's memory (``SFTLENS_GPU_MEMORY_FRACTION`` tells the
engines that plan their batches from free memory).

Example::

    sftlens study configs/world-gpu.yaml --out runs/gpu --workers 8 --workers-per-gpu 4
    torchrun --nproc_per_node 4 -m sftlens study configs/world-gpu.yaml --out runs/gpu
"""

from __future__ import annotations

import json
import logging
import math
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from sftlens.config import build_config
from sftlens.errors import ConfigError, SftlensError
from sftlens.generation.batching import FRACTION_ENV
from sftlens.study.assemble import StudyResult
from sftlens.study.config import StudyConfig
from sftlens.study.parallel import Comm, reported, run_ranked

log = logging.getLogger(__name__)

#: GPU memory one worker needs, in multiples of the base model's weight bytes: the base,
#: the fine-tuned copy, its gradients, two AdamW moments and activations
MEMORY_FACTOR = 6
#: a worker on a shared GPU may use this much of 1 / (workers on that GPU) of its memory
#: (the rest leaves room for the other workers' CUDA contexts)
GPU_SHARE_MARGIN = 0.95
LOG_FORMAT = "%(asctime)s sftlens %(levelname).1s %(message)s"


def under_torchrun() -> bool:
    """True when this process is a rank started by ``torchrun`` (or another env:// launcher)."""
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def gpu_count(cfg: StudyConfig) -> int:
    """GPUs the study may use: all visible ones for ``auto``/``cuda``, one for ``cuda:N``."""
    if cfg.device == "cpu":
        return 0
    import torch

    if not torch.cuda.is_available():
        return 0
    return torch.cuda.device_count() if cfg.device in ("auto", "cuda") else 1


def worker_count(cfg: StudyConfig) -> int:
    """``workers``, or ``workers_per_gpu`` on every GPU when only that is given."""
    if cfg.workers is not None:
        return cfg.workers
    return gpu_count(cfg) * cfg.workers_per_gpu if cfg.workers_per_gpu > 1 else 1


def weight_bytes(model: str) -> int | None:
    """Bytes of a local checkpoint's weight files (None for a hub id)."""
    path = Path(model)
    if not path.is_dir():
        return None
    found = sum(f.stat().st_size for f in path.iterdir() if f.suffix in (".safetensors", ".bin"))
    return found or None


def check_placement(cfg: StudyConfig, local_world: int) -> None:
    """``local_world`` processes on this host fit on its GPUs (count and memory), else one line."""
    gpus = gpu_count(cfg)
    if not gpus:
        return
    per_gpu = math.ceil(local_world / gpus)
    if per_gpu > cfg.workers_per_gpu:
        raise ConfigError(
            f"{local_world} workers on {gpus} GPU(s) put {per_gpu} on one GPU but workers_per_gpu "
            f"is {cfg.workers_per_gpu}; pass --workers-per-gpu {per_gpu} or start fewer workers"
        )
    weights = weight_bytes(cfg.base_model())
    if per_gpu == 1 or weights is None:
        return
    import torch

    need = per_gpu * MEMORY_FACTOR * weights
    for i in range(gpus):
        free = torch.cuda.mem_get_info(i)[0]
        if need > free:
            raise ConfigError(
                f"{per_gpu} workers per GPU need about {need / 2**30:.1f} GiB ({MEMORY_FACTOR} x "
                f"the model's {weights / 2**30:.2f} GiB of weights each) but cuda:{i} has "
                f"{free / 2**30:.1f} GiB free; lower --workers-per-gpu"
            )


def workers_on_gpu(local_rank: int, local_world: int, gpus: int) -> int:
    """How many of the host's ``local_world`` ranks share ``local_rank``'s GPU (round-robin)."""
    return len(range(local_rank % gpus, local_world, gpus))


def split_cores(local_world: int) -> None:
    """Give this worker its share of the host's cores (at least 1) unless OMP_NUM_THREADS is set."""
    if "OMP_NUM_THREADS" in os.environ:
        return
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    torch.set_num_threads(max(1, (cores or 1) // local_world))


def share_gpu(device: str, sharing: int) -> None:
    """Cap this process at its share of ``device``'s memory when ``sharing`` workers use it."""
    if sharing <= 1:
        return
    import torch

    share = GPU_SHARE_MARGIN / sharing
    torch.cuda.set_per_process_memory_fraction(share, torch.device(device))
    os.environ[FRACTION_ENV] = repr(share)  # the exact value passed to torch, for the planners


def place(cfg: StudyConfig, local_rank: int, local_world: int) -> StudyConfig:
    """This worker's config: its own GPU (round-robin) and memory share, its share of the cores."""
    import torch

    split_cores(local_world)
    gpus = gpu_count(cfg)
    if not gpus:
        return cfg
    if cfg.device in ("auto", "cuda"):
        torch.cuda.set_device(local_rank % gpus)  # also for code that says plain "cuda"
        cfg = cfg.model_copy(update={"device": f"cuda:{local_rank % gpus}"})
    if cfg.device.startswith("cuda"):
        share_gpu(cfg.device, workers_on_gpu(local_rank, local_world, gpus))
    return cfg


def run_parallel(cfg: StudyConfig, out: Path, *, force: bool = False) -> StudyResult:
    """Run the study over several processes: this one's torchrun rank, or N new workers."""
    if not under_torchrun():
        return launch_workers(cfg, out, worker_count(cfg), force=force)
    if cfg.workers is not None and cfg.workers > 1:
        raise ConfigError("--workers starts its own processes; under torchrun use --nproc_per_node")
    comm = Comm.from_env()
    with reported(comm, [""]):
        check_placement(cfg, comm.local_world)
    placed = place(cfg, comm.local_rank, comm.local_world)
    return run_ranked(cfg, out, comm, force=force, placed=placed)


def launch_workers(cfg: StudyConfig, out: Path, n: int, *, force: bool = False) -> StudyResult:
    """Start ``n`` workers around a store hosted here; their error or rank 0's result."""
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from torch.multiprocessing.spawn import ProcessException

    check_placement(cfg, n)  # before any process starts
    store = dist.TCPStore("127.0.0.1", 0, None, True, timeout=timedelta(minutes=5), wait_for_workers=False)  # fmt: skip
    shared = dist.PrefixStore("sftlens-study/", store)
    level = logging.getLogger().getEffectiveLevel()
    args = (cfg.given(), str(out), force, store.port, n, level)
    log.info("starting %d workers", n)
    try:
        mp.start_processes(_worker, args=args, nprocs=n, join=True, start_method="spawn")
    except ProcessException as err:
        if shared.check(["error"]):
            raise SftlensError(bytes(shared.get("error")).decode()) from None
        raise SftlensError(
            f"worker {err.error_index} stopped ({err}); rerun the same command to resume"
        ) from None
    return StudyResult.from_json(json.loads(bytes(shared.get("result"))))


def _worker(index: int, data: dict[str, Any], out: str, force: bool, port: int, n: int, level: int) -> None:  # fmt: skip
    """One ``--workers`` process (started by :func:`launch_workers`)."""
    import torch.distributed as dist

    logging.basicConfig(level=level, format=LOG_FORMAT, datefmt="%H:%M:%S")
    store = dist.TCPStore("127.0.0.1", port, None, False, timeout=timedelta(minutes=5))
    comm = Comm(dist.PrefixStore("sftlens-study/", store), index, n, index, n)
    cfg = build_config(StudyConfig, data, source="study config")
    run_ranked(cfg, Path(out), comm, force=force, placed=place(cfg, index, n))
