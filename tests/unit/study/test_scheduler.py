"""Scheduler: skips finished units, recomputes memory units only when needed, frees them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sftlens.runstore import RunDir
from sftlens.study.scheduler import Progress, Scheduler, Unit


def graph(calls: list[str], key: str = "k") -> list[Unit]:
    def ft(out: Path, _: dict[str, Any]) -> dict[str, int]:
        calls.append("ft")
        return {"weights": 42}

    def consumer(name: str):
        def run(out: Path, values: dict[str, Any]) -> dict[str, Any]:
            calls.append(name)
            out.mkdir(parents=True, exist_ok=True)
            (out / "v.txt").write_text(str(values["ft"]["weights"]))
            return {"ok": True}

        return run

    return [
        Unit("ft", key, ft, memory=True),
        Unit("a", key + "a", consumer("a"), needs=("ft",)),
        Unit("b", key + "b", consumer("b"), needs=("ft",)),
    ]


def test_runs_then_skips(tmp_path: Path):
    calls: list[str] = []
    run = RunDir.create(tmp_path)
    progress = Scheduler(run).run(graph(calls))
    assert calls == ["ft", "a", "b"] and progress.done == progress.total == 2
    assert (run.unit_dir("a") / "v.txt").read_text() == "42"
    calls.clear()
    sched = Scheduler(run)
    sched.run(graph(calls))
    assert calls == [] and sched.executed == []


def test_resume_reruns_only_the_unfinished_and_its_memory_input(tmp_path: Path):
    calls: list[str] = []
    run = RunDir.create(tmp_path)
    Scheduler(run).run(graph(calls))
    (run.unit_dir("b") / "unit.json").unlink()  # as if killed before b finished
    calls.clear()
    Scheduler(run).run(graph(calls))
    assert calls == ["ft", "b"]


def test_changed_key_reruns(tmp_path: Path):
    calls: list[str] = []
    run = RunDir.create(tmp_path)
    Scheduler(run).run(graph(calls))
    calls.clear()
    Scheduler(run).run(graph(calls, key="other"))
    assert calls == ["ft", "a", "b"]


def test_memory_value_is_freed_after_last_consumer(tmp_path: Path):
    seen: list[int] = []
    sched = Scheduler(RunDir.create(tmp_path))
    units = graph([])
    units.append(Unit("c", "c", lambda out, v: seen.append(len(sched.values)) or {}))
    sched.run(units)
    assert seen == [0] and sched.values == {}


def test_progress_line_and_eta():
    p = Progress(total=10, done=4, ran=2, seconds=20.0)
    assert p.eta() == 60.0
    assert p.line("L0-n60-s0/eval") == "[4/10 units, ETA 00:01:00] L0-n60-s0/eval"
    assert "ETA ?" in Progress(total=3).line("probe")


def test_unit_json_records_start_seconds_needs_and_worker(tmp_path: Path):
    run = RunDir.create(tmp_path)
    before = time.time()
    Scheduler(run, worker={"rank": 3, "device": "cuda:1"}).run(graph([]))
    a = json.loads((run.unit_dir("a") / "unit.json").read_text())
    b = json.loads((run.unit_dir("b") / "unit.json").read_text())
    assert a["ok"] is True and a["rank"] == 3 and a["device"] == "cuda:1"
    assert before <= a["started"] <= a["finished"] and a["seconds"] >= 0
    assert set(a["needs_seconds"]) == {"ft"} and a["needs_seconds"]["ft"] >= 0
    assert "needs_seconds" not in b  # the tuned model was already in memory
    assert a["started"] <= b["started"]


def test_sequential_unit_json_has_no_worker_fields(tmp_path: Path):
    run = RunDir.create(tmp_path)
    Scheduler(run).run(graph([]))
    a = json.loads((run.unit_dir("a") / "unit.json").read_text())
    assert "rank" not in a and "device" not in a and "seconds" in a
