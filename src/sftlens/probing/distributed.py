"""Data-parallel probing: the chunk files of one probe are shared out over the processes.

Under ``torchrun --nproc_per_node N`` (or ``accelerate launch``) every process loads the
model on its own device, probes ``todo[rank::N]`` of the missing chunks and writes them;
rank 0 then assembles ``mastery.parquet``.  Sampling is seeded per (seed, prompt, sample),
so the table is identical to a one-process run.

Example::

    torchrun --nproc_per_node 8 -m sftlens probe --model M --data SPEC --out DIR
"""

from __future__ import annotations

import os
from functools import lru_cache


def rank_and_size() -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 outside a launcher)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


@lru_cache(maxsize=1)
def _group() -> None:
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")  # CPU barriers only; no tensors move


def barrier() -> None:
    """Wait for every process (no-op for one process)."""
    if rank_and_size()[1] > 1:
        import torch.distributed as dist

        _group()
        dist.barrier()


def process_device(device: str) -> str:
    """``auto`` → this process's own GPU (``LOCAL_RANK``) when several processes share a host."""
    import torch

    if device == "auto" and rank_and_size()[1] > 1 and torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device
