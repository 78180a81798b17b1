"""The study report: tables, figures and the paper's four findings from a study's results.

Example::

    from sftlens.reporting import judge, load_results
    res = load_results(Path("runs/demo")); print(judge(res, ReportConfig()))
"""

from sftlens.reporting.config import ReportConfig
from sftlens.reporting.findings import Finding, judge
from sftlens.reporting.tables import Results, load_results

__all__ = ["Finding", "ReportConfig", "Results", "judge", "load_results"]
