"""Configs of ``sftlens report`` and ``sftlens compare`` (no torch import).

Example::

    sftlens report runs/demo swing_points=5 restore_max_k=20
    sftlens compare --runs runs/world-s0,runs/world-s1 --out runs/compare
"""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from sftlens.config import NonNegFloat, Percent, StageConfig


class FindingRules(StageConfig):
    """The thresholds of the four findings and the domain they are judged in.

    Attributes:
        swing_points: finding 2 holds when the training level swings accuracy by more than
            this many points (the lower bound of some level pair's 95% interval > threshold;
            docs/report.md).
        restore_max_k: finding 4 looks at restoring k ≤ this percent of the top updates.
        domain: domain of the headline numbers in findings 1, 2 and 4 (``in``: the paper's).
    """

    swing_points: NonNegFloat = 5.0
    restore_max_k: Percent = 20.0
    domain: str = "in"


class ReportConfig(FindingRules):
    """Report settings and the thresholds of the four findings.

    Attributes:
        title: page title.
    """

    title: str = "sftlens study report"


class CompareConfig(FindingRules):
    """Several finished study runs, each judged by the same rules, side by side.

    Attributes:
        runs: study run directories (two or more, each with ``results/``).
        labels: a short name per run for the tables (default: R1, R2, ...).
    """

    runs: list[str] = Field(default_factory=list)
    labels: list[str] | None = None

    @field_validator("runs")
    @classmethod
    def _two_or_more_runs(cls, runs: list[str]) -> list[str]:
        if len(runs) < 2:
            raise ValueError(f"compare needs two or more runs (--runs A,B), got {len(runs)}")
        if len(set(runs)) != len(runs):
            raise ValueError("a run is named twice")
        return runs

    @field_validator("labels")
    @classmethod
    def _one_label_per_run(cls, labels: list[str] | None, info: ValidationInfo) -> list[str] | None:
        runs = info.data.get("runs")
        if labels is None or runs is None:
            return labels
        if len(labels) != len(runs):
            raise ValueError(f"{len(labels)} labels for {len(runs)} runs; give one per run")
        if len(set(labels)) != len(labels):
            raise ValueError("two runs have the same label")
        return labels

    def run_labels(self) -> list[str]:
        """The label of each run, in ``runs`` order."""
        return list(self.labels) if self.labels else [f"R{i + 1}" for i in range(len(self.runs))]
