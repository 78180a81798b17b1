"""Config of ``sftlens report`` (no torch import).

Example::

    sftlens report runs/demo swing_points=5 restore_max_k=20
"""

from __future__ import annotations

from sftlens.config import NonNegFloat, Percent, StageConfig


class ReportConfig(StageConfig):
    """Report settings and the thresholds of the four findings.

    Attributes:
        title: page title.
        swing_points: finding 2 holds when the training level swings accuracy by more than
            this many points (the lower bound of some level pair's 95% interval > threshold;
            docs/report.md).
        restore_max_k: finding 4 looks at restoring k ≤ this percent of the top updates.
        domain: domain of the headline numbers in findings 1, 2 and 4 (``in``: the paper's).
    """

    title: str = "sftlens study report"
    swing_points: NonNegFloat = 5.0
    restore_max_k: Percent = 20.0
    domain: str = "in"
