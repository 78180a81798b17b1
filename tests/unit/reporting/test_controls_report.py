"""The report's controls section: beside the grid, never in the findings."""

from __future__ import annotations

from pathlib import Path

from sftlens.reporting.config import ReportConfig
from sftlens.reporting.stage import run as run_report
from sftlens.tableio import read_table, write_table


def control_rows(run: Path) -> list[dict]:
    """The grid's n=60 plain rows re-labelled as a steps-matched control, 10 points better."""
    acc = read_table(run / "results" / "accuracy.parquet")
    rows = []
    for r in acc:
        if r["size"] == 60 and r["restore_k"] == 0:
            better = min(1.0, float(r["accuracy"]) + 0.10)
            rows.append({"control": "steps-matched", "lr": 1e-4, "epochs": 16, **r,
                         "accuracy": better})  # fmt: skip
    return rows


def test_controls_are_reported_apart_from_the_findings(synthetic_run: Path):
    plain = run_report(ReportConfig(), synthetic_run, force=True)
    before = (synthetic_run / "report" / "findings.md").read_text()
    assert "Controls" not in before
    write_table(synthetic_run / "results" / "controls.parquet", control_rows(synthetic_run))
    again = run_report(ReportConfig(), synthetic_run, force=True)
    md = (synthetic_run / "report" / "findings.md").read_text()
    assert [f.verdict for f in again.findings] == [f.verdict for f in plain.findings]
    assert md.startswith(before.rstrip("\n"))  # the findings and paper table are unchanged
    section = md.split("## Controls (apart from the findings)")[1]
    assert "steps-matched" in section and "0.0001 / 16" in section
    assert "grid, same cell" in section and "grid, n=960" in section
    assert (
        "Controls (apart from the findings)"
        in (synthetic_run / "report" / "index.html").read_text()
    )
