"""The "paper vs this run" table and the lr-calibration section, from synthetic results."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from sftlens.reporting import judge
from sftlens.reporting.config import ReportConfig
from sftlens.reporting.paper import FINDING_FIGURES, LEVEL_FIGURES, MISSING, paper_vs_run
from sftlens.reporting.stage import run
from sftlens.reporting.tables import calibration_table, load_results

from .conftest import synthetic_rows, write_results

SRC = Path(__file__).resolve().parents[3] / "src" / "sftlens"


def test_paper_vs_run_rows(synthetic_run: Path):
    res = load_results(synthetic_run)
    findings = judge(res, ReportConfig())
    table = paper_vs_run(res.accuracy, findings, "in")
    assert len(table) == len(findings) + len(LEVEL_FIGURES)
    by_finding = table.iloc[: len(findings)]
    assert list(by_finding["paper (LLaMA-3-8B)"]) == [MISSING, "≥ 12.0 pts (level 2: 57.5 vs level 0: 45.5)", MISSING, MISSING]  # fmt: skip
    assert list(by_finding["this run"]) == [f.evidence for f in findings]
    assert list(by_finding["verdict"]) == [f.verdict for f in findings]
    assert all("95% interval" in iv for iv in by_finding["95% interval"])
    levels = table.iloc[len(findings) :].set_index("paper (LLaMA-3-8B)")["this run"]
    assert set(levels.index) == {"0.6–1.8%", "83–93%", "45.5", "57.5"}
    # synthetic data: level 2 training sits between levels 0 and 4; three seeds each
    assert re.fullmatch(r"\d+\.\d ± \d+\.\d \(3 seeds\)", levels["45.5"])
    assert re.fullmatch(r"\d+\.\d–\d+\.\d% \(L0 .*, L2 .*, L4 .*; 3 seeds\)", levels["83–93%"])
    assert all("n=960" in q for q in table.iloc[len(findings) :]["quantity"])


def test_missing_training_level_shows_a_dash(tmp_path: Path):
    t = synthetic_rows()
    t["accuracy"] = [r for r in t["accuracy"] if r["train_level"] != "2"]
    res = load_results(write_results(tmp_path / "r", t))
    table = paper_vs_run(res.accuracy, judge(res, ReportConfig()))
    assert table.set_index("paper (LLaMA-3-8B)").loc["57.5", "this run"] == MISSING
    nowhere = paper_vs_run(res.accuracy, judge(res, ReportConfig()), "xx")
    assert (nowhere.iloc[4:]["this run"] == MISSING).all()


def test_report_shows_comparison_and_calibration(tmp_path: Path):
    t = synthetic_rows()
    t["calibration"] = [
        {"lr": lr, "dev_macro_in": m, "dev_macro_ood": 0.3, **{f"in_L{i}": m for i in range(5)},
         "chosen": lr == 1e-4}
        for lr, m in ((1e-5, 0.2), (1e-4, 0.45), (3e-4, 0.4))
    ]  # fmt: skip
    result = run(ReportConfig(), write_results(tmp_path / "run", t))
    page = result.index.read_text()
    assert "Paper (LLaMA-3-8B) vs this run" in page and "Table 2, n=1,920" in page
    assert "Learning-rate calibration" in page and "Chosen lr 0.0001" in page
    cal = calibration_table(pd.DataFrame(t["calibration"]))
    assert list(cal.index) == ["1e-05", "0.0001", "0.0003"]
    assert list(cal["dev macro in"]) == [20.0, 45.0, 40.0]
    assert list(cal["chosen"]) == ["", "← chosen", ""] and "← chosen" in page
    md = result.findings_md.read_text()
    assert "## Paper (LLaMA-3-8B) vs this run" in md and "| 45.5 |" in md
    assert "base model" in page  # the base-model row of Table 2 stays


def test_report_without_calibration_has_no_calibration_section(synthetic_run: Path):
    page = run(ReportConfig(), synthetic_run).index.read_text()
    assert "Learning-rate calibration" not in page and "Paper (LLaMA-3-8B)" in page


def test_paper_figures_live_in_one_place():
    values = {f.value for f in LEVEL_FIGURES.values()} | {f.value for f in FINDING_FIGURES.values()}
    assert "45.5" in values and "57.5" in values
    owners = [p for p in SRC.rglob("*.py") if re.search(r"\b57\.5\b|\b45\.5\b", p.read_text())]
    assert [p.name for p in owners] == ["paper.py"]
