"""The study over several processes, coordinated through torch.distributed's c10d store.

Every process (a ``torchrun`` rank or a ``--workers`` worker) builds the same unit graph.
A study in one process is the same with one rank and an in-memory store.
The pre-grid waves (probe chunks, then the merge, then select and the base evaluation)
are shared out dynamically: a process claims the next unit of a wave with the store's
atomic ``add`` and runs it; a store barrier closes each wave.  Then the cells (a fine-tune
and every unit that needs the tuned model in memory) are built, sorted largest first and
claimed the same way.  Rank 0 assembles ``results/`` and writes the report.

A process that raises records ``cell <name>: <error>`` under the store's ``error`` key
and releases every barrier, so the others stop at their next claim or barrier with the
same one-line error.  Unit outputs and done-markers are atomic, so a killed process
leaves nothing half-written; rerunning the same command resumes.

Example::

    torchrun --nproc_per_node 4 -m sftlens study configs/world-gpu.yaml --out runs/gpu
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sftlens.cli_errors import explain
from sftlens.config import dump_config
from sftlens.determinism import deterministic_kernels
from sftlens.errors import SftlensError
from sftlens.outdir import ensure_out_dir, input_paths
from sftlens.runstore import RunDir, content_hash
from sftlens.study.assemble import StudyResult, finish
from sftlens.study.config import StudyConfig
from sftlens.study.context import StudyContext
from sftlens.study.graph import CellUnits, grid_cells, pregrid_waves
from sftlens.study.scheduler import Scheduler, Unit

log = logging.getLogger(__name__)

#: how long a process waits at a barrier for the slowest one (a cell of a large model is long)
BARRIER_TIMEOUT = timedelta(days=3)
#: barriers released by a failing process (a run passes far fewer)
MAX_BARRIERS = 64
#: torchrun's variables, hidden from the unit bodies (each cell runs in one process)
LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK")


class StudyAborted(SftlensError):
    """Another process of the run failed; its message is this error's message."""


@dataclass
class Comm:
    """This process's rank and the run's shared store (``add``, ``wait``, ``compare_set``)."""

    store: Any
    rank: int
    world: int
    local_rank: int = 0
    local_world: int = 1
    barriers: int = field(default=0, init=False)

    @property
    def tag(self) -> str:
        """The log lines' prefix: ``[rank r] `` when the run has several processes."""
        return f"[rank {self.rank}] " if self.world > 1 else ""

    @classmethod
    def from_env(cls) -> Comm:
        """Rendezvous through torchrun's environment (``env://``), then hide it from the units."""
        import torch.distributed as dist

        local = int(os.environ.get("LOCAL_RANK", "0"))
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
        restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")  # a restart starts afresh
        store, rank, world = next(dist.rendezvous("env://"))
        for name in LAUNCHER_VARS:  # a fine-tune must not think it is one shard of a DDP job
            os.environ.pop(name, None)
        shared = dist.PrefixStore(f"sftlens-study/{restart}/", store)
        return cls(shared, rank, world, local, local_world)

    def barrier(self) -> None:
        """Wait for every process; raises :class:`StudyAborted` when one of them failed."""
        i = self.barriers
        self.barriers += 1
        if int(self.store.add(f"barrier/{i}", 1)) == self.world:
            self.store.set(f"barrier/{i}/go", "1")
        try:
            self.store.wait([f"barrier/{i}/go"], BARRIER_TIMEOUT)
        except RuntimeError as err:
            raise SftlensError(
                f"rank {self.rank}: timed out waiting for the others ({err})"
            ) from None
        self.raise_if_failed()

    def claim(self, queue: str) -> int:
        """The next index of a shared work queue (0, 1, 2, … over all processes)."""
        self.raise_if_failed()
        return int(self.store.add(f"queue/{queue}", 1)) - 1

    def fail(self, message: str) -> None:
        """Record the run's first error and release every barrier."""
        self.store.compare_set("error", "", message)
        keys = [f"barrier/{i}/go" for i in range(MAX_BARRIERS)]
        self.store.multi_set(keys, ["1"] * len(keys))  # one request: the store may close after it

    def error(self) -> str | None:
        if not self.store.check(["error"]):
            return None
        return bytes(self.store.get("error")).decode()

    def raise_if_failed(self) -> None:
        message = self.error()
        if message:
            raise StudyAborted(message)

    def check_same_config(self, cfg: StudyConfig, out: Path) -> None:
        """Every process must run rank 0's config into rank 0's run dir."""
        mine = content_hash({"config": dump_config(cfg), "out": str(Path(out).resolve())})
        if self.rank == 0:
            self.store.set("config", mine)
        elif bytes(self.store.get("config")).decode() != mine:
            raise SftlensError(
                f"rank {self.rank} was started with another config or --out than rank 0; "
                "start every process with the same command"
            )


@contextmanager
def reported(comm: Comm, where: list[str]) -> Iterator[None]:
    """Turn an error into the run's error (naming ``where[0]``) and stop the others."""
    try:
        yield
    except StudyAborted:
        raise
    except Exception as err:
        known = explain(err)  # a full disk, a bad file: one line, no worker traceback
        if known is None:
            log.exception("rank %d failed in %s", comm.rank, where[0])
        text = known if known is not None else f"{type(err).__name__}: {err}"
        message = f"{where[0]}: {text}" if where[0] else text
        comm.fail(message)
        raise SftlensError(message) from err


def run_ranked(
    cfg: StudyConfig,
    out: Path,
    comm: Comm,
    *,
    force: bool = False,
    placed: StudyConfig | None = None,
) -> StudyResult:
    """This process's share of the study (every process calls it; rank 0 also assembles),
    with deterministic kernels when ``cfg.deterministic``.
    ``placed``: ``cfg`` with this process's own device (the run's config is ``cfg``)."""
    with deterministic_kernels(cfg.deterministic):
        return _run_share(cfg, out, comm, force, placed)


def _run_share(
    cfg: StudyConfig, out: Path, comm: Comm, force: bool, placed: StudyConfig | None
) -> StudyResult:
    """:func:`run_ranked`'s body."""
    start = time.monotonic()
    where = [""]
    with reported(comm, where):
        comm.check_same_config(cfg, out)
        ctx = StudyContext(placed or cfg, RunDir(out))
        if comm.rank == 0:
            pregrid_waves(ctx)  # checks the data before --out is touched; writes nothing
            ensure_out_dir(out, force=force, marker=RunDir.MANIFEST, inputs=input_paths(cfg))
            RunDir.create(out, config=dump_config(cfg))
    comm.barrier()  # the run dir exists and every config matched
    with reported(comm, where):
        ctx.run_dir = RunDir(out)
        sched = Scheduler(
            ctx.run_dir,
            on_progress=lambda line: log.info("%s%s", comm.tag, line),
            worker={"rank": comm.rank, "device": ctx.cfg.device},
        )
        units: list[Unit] = []
        for w, wave in enumerate(pregrid_waves(ctx)):
            units += wave
            run_queue(comm, f"wave-{w}", [(f"unit {u.name}", [u]) for u in wave], sched, where)
            comm.barrier()
    with reported(comm, where):
        cells = largest_first(ctx, grid_cells(ctx))
        units += [u for c in cells for u in c.units]
        run_queue(comm, "cells", [(f"cell {c.cell.name}", c.units) for c in cells], sched, where)
        comm.store.set(f"executed/{comm.rank}", json.dumps(sched.executed))
    comm.barrier()  # every cell is finished
    if comm.rank != 0:
        total = sum(not u.memory for u in units)
        return StudyResult(out, total, sched.executed, time.monotonic() - start, rank=comm.rank)
    where[0] = "assemble"
    with reported(comm, where):
        executed = [
            n for r in range(comm.world) for n in json.loads(comm.store.get(f"executed/{r}"))
        ]
        result = finish(cfg, ctx.run_dir, units, executed, start)
        comm.store.set("result", json.dumps(result.to_json()))
    return result


def run_queue(
    comm: Comm,
    queue: str,
    items: Sequence[tuple[str, list[Unit]]],
    sched: Scheduler,
    where: list[str],
) -> None:
    """Claim items of a shared queue until it is empty; run each one's pending units."""
    while (i := comm.claim(queue)) < len(items):
        where[0], group = items[i]
        if all(sched.is_done(u) for u in group if not u.memory):
            continue
        log.info("%s%s (%d/%d of %s)", comm.tag, where[0], i + 1, len(items), queue)
        sched.run(group)
    where[0] = ""


def largest_first(ctx: StudyContext, cells: list[CellUnits]) -> list[CellUnits]:
    """Cells with a restore sweep first, then by training-set size (ties: grid order)."""
    path = ctx.run_dir.unit_dir("select") / "sets.json"
    sizes = json.loads(path.read_text()) if path.is_file() else {}

    def cost(c: CellUnits) -> tuple[int, int]:
        return (int(c.restored), int(sizes.get(c.cell.name, 0)))

    return sorted(cells, key=cost, reverse=True)
