"""``sftlens report RUN_DIR``: tables, figures and the four findings of a study run.

Writes ``RUN_DIR/report/index.html`` (self-contained; PNGs beside it) and
``RUN_DIR/report/findings.md``.

Example::

    sftlens report runs/demo
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sftlens.reporting import plots, tables
from sftlens.reporting.config import ReportConfig
from sftlens.reporting.controls import controls_table, load_controls
from sftlens.reporting.findings import Finding, judge
from sftlens.reporting.html import Section, render_page
from sftlens.reporting.paper import PAPER, PAPER_MODEL, markdown_table, paper_vs_run
from sftlens.runstore import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class ReportResult:
    """Where the report went and what it found."""

    index: Path
    findings_md: Path
    findings: list[Finding]

    def summary(self) -> str:
        lines = [f"report: {self.index}", f"findings: {self.findings_md}"]
        lines += [f"  {f.number}. {f.claim}: {f.verdict}" for f in self.findings]
        return "\n".join(lines)


def accuracy_sections(res: tables.Results, out: Path) -> list[Section]:
    acc = res.accuracy
    stats = tables.accuracy_vs_size(acc)
    level4 = tables.accuracy_vs_size(acc, test_level=4)
    level4 = level4[level4["domain"] == "in"]
    kl = tables.kl_vs_size(res.kl) if res.kl is not None and not res.kl.empty else None
    sections = [
        Section(
            "Accuracy against SFT data size (Fig. 2)",
            "Macro mean of the five test levels; one line per training level; error bars = spread over seeds.",
            images=[
                plots.accuracy_vs_size(
                    stats,
                    out / "fig_accuracy_vs_size.png",
                    tables.base_macro(res.base_accuracy, res.test_set),
                ).name
            ],
        ),
        Section(
            "Per-level accuracy at the largest size (Table 2)",
            "Accuracy in points, mean ± spread over seeds; columns are the base model's mastery levels of the test facts.",
            tables=[
                (
                    "accuracy by training level and test level",
                    tables.per_level_table(acc, base=res.base_accuracy),
                )
            ],
        ),
        Section(
            "Token KL against SFT size (Fig. 5) and test-level-4 accuracy (Fig. 4)",
            images=[plots.kl_and_level4(kl, level4, out / "fig_kl_vs_size.png").name],
            tables=[("KL (top-10) per training level", _pivot(kl, 1.0, 3))]
            if kl is not None
            else [],
        ),
    ]
    restore = tables.restoration_table(acc)
    if not restore.empty:
        curves = tables.restore_curves(acc)
        sections.append(
            Section(
                "Restoring the top updates (Table 4)",
                "Macro accuracy after restoring k% of the fine-tune's elements to the base values.",
                tables=[("accuracy after restoration", restore)],
                images=[plots.restore_curves(curves, out / "fig_restore_vs_k.png").name],
            )
        )
    return sections


def _pivot(stats: pd.DataFrame, scale: float, digits: int) -> pd.DataFrame:
    cells = [
        tables.fmt(m, s, scale, digits) for m, s in zip(stats["mean"], stats["spread"], strict=True)
    ]
    table = stats.assign(cell=cells).pivot(index="train_level", columns="size", values="cell")
    table.columns = [f"n={c}" for c in table.columns]
    return table


def zero_base_note(diff: pd.DataFrame) -> str:
    """A sentence on how much of the top p% is base-0 elements (r = |t|/1e-8), if any."""
    if "zero_base_share" not in diff:
        return ""
    by_pct = diff.groupby("top_pct")["zero_base_share"].mean()
    if not len(by_pct) or float(by_pct.max()) <= 0:
        return ""
    p = float(by_pct.idxmax())
    return (
        f" Elements whose base value is 0 (r = |t|/1e-8) make up {float(by_pct.max()):.0%} of "
        f"the top {p:g}% on average: such zero-initialised weights lead the ranking."
    )


def parameter_sections(res: tables.Results, out: Path) -> list[Section]:
    sections = []
    if res.diff_stats is not None and not res.diff_stats.empty:
        sec = Section(
            "Concentration of the updates (Table 3) and where they are (Tables 9–10)",
            "Share of the summed relative update r=|t−b|/(|b|+1e-8) held by the top p% of elements."
            + zero_base_note(res.diff_stats),
            tables=[("share held by the top p%", tables.concentration_table(res.diff_stats))],
        )
        groups = res.diff_groups
        if groups is not None and not groups.empty:
            layers = tables.group_distribution(groups, "layer")
            modules = tables.group_distribution(groups, "module")
            sec.images.append(
                plots.group_bars(layers, modules, out / "fig_layers_modules.png").name
            )
            sec.tables.append(("per module (mean ± spread)", _flat(modules)))
        sections.append(sec)
    if res.mastery is not None and not res.mastery.empty:
        sec = Section("Data distribution per mastery level (Table 1)",
                      tables=[("facts per level", tables.data_distribution(res.mastery))])  # fmt: skip
        exposure = tables.mastery_vs_exposure(res.mastery)
        rho = tables.exposure_spearman(res.mastery)
        if exposure is not None and rho is not None:
            sec.title += " and mastery against exposure"
            sec.text = (
                f"Spearman(exposure, R) = {rho[0]:.2f} over {rho[1]:,} facts (exposure: a "
                "world's pretraining mentions, or a real source's popularity such as population)."
            )
            sec.images.append(
                plots.mastery_vs_exposure(exposure, out / "fig_mastery_vs_exposure.png").name
            )
        sections.append(sec)
    return sections


def _flat(stats: pd.DataFrame) -> pd.DataFrame:
    cells = [f"{m:.4g} ± {s:.2g}" for m, s in zip(stats["mean"], stats["spread"], strict=True)]
    return pd.DataFrame({"value": cells}, index=stats["group"].astype(str))


def comparison_sections(res: tables.Results, comparison: pd.DataFrame) -> list[Section]:
    """The paper's LLaMA-3-8B figures beside this run's, and the lr calibration (when run)."""
    sections = [
        Section(
            f"Paper ({PAPER_MODEL}) vs this run",
            f"{PAPER}: figures as printed, with their source; '—' where the paper's figure is not "
            "known here. This run: a finding's headline contrast with its 95% interval over seeds "
            "and test questions; per-level figures: mean ± spread over seeds.",
            tables=[("paper vs this run", comparison.set_index("quantity"))],
        )
    ]
    cal = res.calibration
    if cal is not None and not cal.empty:
        chosen = float(cal[cal["chosen"]]["lr"].iloc[0]) if cal["chosen"].any() else float("nan")
        sections.append(
            Section(
                "Learning-rate calibration (dev facts)",
                f"Chosen lr {chosen:g}: the best dev macro accuracy in-domain (mean of the five "
                "per-level accuracies) of one mastery-mixed fine-tune per lr; ties go to the smaller lr. "
                "Accuracy in points on the dev split, never the test split.",
                tables=[("dev accuracy per learning rate", tables.calibration_table(cal))],
            )
        )
    return sections


CONTROLS_NOTE = (
    "Controls the paper lacks, run beside the grid and never used by a finding: "
    "`steps-matched` trains the smallest size for as many optimizer steps as the largest; "
    "`lr=...` trains the grid again at another learning rate. Macro accuracy in points "
    "(mean ± spread over seeds)."
)


def findings_markdown(
    findings: list[Finding],
    run_dir: Path,
    comparison: pd.DataFrame | None = None,
    controls: pd.DataFrame | None = None,
) -> str:
    lines = [f"# Findings of {run_dir}", ""] + [f.markdown() for f in findings]
    if comparison is not None:
        lines += ["", f"## Paper ({PAPER_MODEL}) vs this run", "", markdown_table(comparison)]
    if controls is not None and not controls.empty:
        lines += ["", "## Controls (apart from the findings)", "", CONTROLS_NOTE, ""]
        lines.append(markdown_table(controls))
    return "\n".join(lines) + "\n"


def run(cfg: ReportConfig, run_dir: Path, *, force: bool = False) -> ReportResult:
    """Read ``run_dir/results`` and write ``run_dir/report/`` (overwritten: it is derived)."""
    res = tables.load_results(Path(run_dir))
    out = Path(run_dir) / "report"
    out.mkdir(parents=True, exist_ok=True)
    findings = judge(res, cfg)
    comparison = paper_vs_run(res.accuracy, findings, cfg.domain)
    sections = comparison_sections(res, comparison)
    sections += accuracy_sections(res, out) + parameter_sections(res, out)
    raw_controls = load_controls(Path(run_dir))
    controls = None
    if raw_controls is not None:
        controls = controls_table(raw_controls, res.accuracy, res.test_set, cfg.domain)
        sections.append(
            Section(
                "Controls (apart from the findings)",
                CONTROLS_NOTE,
                tables=[("controls", controls.set_index("control"))],
            )
        )
    seeds = res.accuracy["seed"].nunique()
    meta = (
        f"run {Path(run_dir).resolve().name}: {seeds} seed(s), test set '{res.test_set}'; "
        "numbers are mean ± spread (std over seeds); verdicts from 95% intervals over seeds and "
        "test questions"
    )
    precision = tables.finetune_precision(Path(run_dir))
    if precision is not None:
        meta += f"; fine-tuning precision: {precision}"
    index = atomic_write_text(out / "index.html", render_page(cfg.title, findings, sections, meta))
    md = atomic_write_text(
        out / "findings.md", findings_markdown(findings, Path(run_dir), comparison, controls)
    )
    log.info("report written to %s", index)
    return ReportResult(index, md, findings)
