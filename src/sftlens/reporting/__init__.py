"""The study report: tables, figures and the paper's four findings from a study's results.

Example::

    from sftlens.reporting import judge, load_results
    res = load_results(Path("runs/demo")); print(judge(res, ReportConfig()))
"""

from typing import Any

from sftlens.reporting.config import ReportConfig
from sftlens.reporting.findings import Finding, judge
from sftlens.reporting.tables import Results, load_results

__all__ = ["Finding", "ReportConfig", "Results", "judge", "load_results", "run_report"]


def __getattr__(name: str) -> Any:
    if name == "run_report":  # the report stage (plots: imported on first use)
        from sftlens.reporting.stage import run

        return run
    raise AttributeError(f"module 'sftlens.reporting' has no attribute {name!r}")
