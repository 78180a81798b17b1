"""Deterministic kernels for one block of work: torch's deterministic algorithms and Inductor's
deterministic mode (no kernel choices made by timing them on the device), restored afterwards.

On CPU, sftlens' training is bit-reproducible without it.  On CUDA, two runs of the same
computation can differ: some kernels add in a varying order (atomics), and ``torch.compile``
picks among kernel variants by timing them, and the variants sum in different orders.  Inside
the block both are ruled out, at a speed cost; an operation that has no deterministic CUDA
kernel raises an error instead of running.

Example::

    with deterministic_kernels(cfg.deterministic):
        pretrain(model, ...)
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator

import torch

#: cuBLAS's setting for reproducible results (read when cuBLAS starts; sftlens sets it only
#: when the user has not)
CUBLAS_WORKSPACE = ":4096:8"


@contextlib.contextmanager
def deterministic_kernels(enabled: bool = True) -> Iterator[None]:
    """Run the block with deterministic kernels when ``enabled`` (else unchanged)."""
    if not enabled:
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    inductor = _inductor_config()
    inductor_before = getattr(inductor, "deterministic", None)
    torch.use_deterministic_algorithms(True)
    if inductor_before is not None:
        setattr(inductor, "deterministic", True)  # noqa: B010 (a module of this torch only)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        if inductor_before is not None:
            setattr(inductor, "deterministic", inductor_before)  # noqa: B010


def _inductor_config() -> object | None:
    """``torch._inductor.config`` where this torch has it (None otherwise)."""
    try:
        return importlib.import_module("torch._inductor.config")
    except ImportError:
        return None
