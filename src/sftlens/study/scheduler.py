"""Run a list of units in order, skipping finished ones, with grid-wide progress and ETA.

A :class:`Unit` is keyed by a content hash of its inputs and config
(``sftlens.runstore.content_hash``); it is done when ``units/<name>/unit.json``
holds that key.  Units that only produce an in-memory value (a fine-tuned model)
are *memory* units: they run when a pending unit needs their value, and their
value is dropped as soon as no pending unit needs it.  So a rerun skips all
finished work, and a study killed at any moment resumes where it stopped.

Each executed unit's ``unit.json`` also records when it ``started`` (UNIX time), its own
wall ``seconds``, the ``needs_seconds`` of the memory units computed for it first (a
fine-tune is timed on its first consumer) and the scheduler's ``worker`` fields (rank,
device); ``bench/study_units.py`` sums them per kind of unit.

Example::

    sched = Scheduler(RunDir("runs/x"))
    sched.run([Unit("probe", key, run_probe), Unit("ft-L0", k2, run_ft, memory=True),
               Unit("ft-L0/eval", k3, run_eval, needs=("ft-L0",))])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sftlens.runstore import RunDir

log = logging.getLogger(__name__)


@dataclass
class Unit:
    """One node of the study graph.

    Attributes:
        name: unique name; its files live in ``units/<name>/``.
        key: content hash of everything that decides its output.
        run: called with (unit dir, values of ``needs``); returns the in-memory value
            (memory units) or an info dict stored in ``unit.json``.
        needs: names of memory units whose values ``run`` receives.
        memory: the value lives in memory only and is recomputed when needed.
    """

    name: str
    key: str
    run: Callable[[Path, dict[str, Any]], Any]
    needs: tuple[str, ...] = ()
    memory: bool = False
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Progress:
    """Done/total and an ETA from the mean time of the units run so far."""

    total: int
    done: int = 0
    ran: int = 0
    seconds: float = 0.0

    def eta(self) -> float | None:
        if self.ran == 0:
            return None
        return self.seconds / self.ran * (self.total - self.done)

    def line(self, current: str) -> str:
        eta = self.eta()
        text = "?" if eta is None else time.strftime("%H:%M:%S", time.gmtime(eta))
        return f"[{self.done}/{self.total} units, ETA {text}] {current}"


class Scheduler:
    """Executes units in the given order against a :class:`RunDir`."""

    def __init__(
        self,
        run_dir: RunDir,
        on_progress: Callable[[str], None] | None = None,
        worker: dict[str, Any] | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.on_progress = on_progress or log.info
        self.worker = dict(worker or {})  # recorded in every unit.json (e.g. rank, device)
        self.values: dict[str, Any] = {}
        self.executed: list[str] = []  # units run (not memory units)
        self.computed: list[str] = []  # memory units computed (e.g. fine-tunes)

    def is_done(self, unit: Unit) -> bool:
        return not unit.memory and self.run_dir.unit_done(unit.name, unit.key)

    def run(self, units: Sequence[Unit]) -> Progress:
        """Run every pending unit; returns the final progress counts."""
        by_name = {u.name: u for u in units}
        pending = [u for u in units if not u.memory and not self.is_done(u)]
        progress = Progress(total=sum(not u.memory for u in units))
        progress.done = progress.total - len(pending)
        if progress.done:
            self.on_progress(progress.line(f"{progress.done} finished units skipped"))
        for i, unit in enumerate(pending):
            self.on_progress(progress.line(unit.name))
            started, start = time.time(), time.monotonic()
            needs_seconds: dict[str, float] = {}
            inputs = {name: self._value(by_name[name], needs_seconds) for name in unit.needs}
            body_start = time.monotonic()
            info = unit.run(self.run_dir.unit_dir(unit.name), inputs)
            timing: dict[str, Any] = {
                "started": started,
                "seconds": round(time.monotonic() - body_start, 3),
            }
            if needs_seconds:
                timing["needs_seconds"] = needs_seconds
            record = {**unit.info, **(info or {}), **timing, **self.worker}
            self.run_dir.mark_done(unit.name, unit.key, record)
            self.executed.append(unit.name)
            progress.done += 1
            progress.ran += 1
            progress.seconds += time.monotonic() - start
            still = {n for u in pending[i + 1 :] for n in u.needs}
            for name in [n for n in self.values if n not in still]:
                del self.values[name]  # free the fine-tuned model as soon as nobody needs it
        self.on_progress(progress.line("done"))
        return progress

    def _value(self, unit: Unit, seconds: dict[str, float]) -> Any:
        """The in-memory value of a memory unit, computed on first use (its time into ``seconds``)."""
        if unit.name not in self.values:
            start = time.monotonic()
            self.on_progress(f"  computing {unit.name}")
            self.values[unit.name] = unit.run(self.run_dir.unit_dir(unit.name), {})
            self.computed.append(unit.name)
            seconds[unit.name] = round(time.monotonic() - start, 3)
            log.info("  %s took %.1fs", unit.name, seconds[unit.name])
        return self.values[unit.name]
