"""``sftlens compare``: the paper's four findings of several study runs side by side.

Each run is judged exactly as ``sftlens report`` judges it (the same rules, thresholds and
domain); nothing is pooled across runs.  For every finding the comparison says how the runs'
verdicts agree (``holds in all 3``, ``holds in both`` or ``mixed: holds in 2, inconclusive in 1``), shows each
run's headline contrast with its 95% interval and the paper's Table 2 figures at each run's
largest size, and lists the config keys (and, for knowledge-world runs, the world-build keys)
in which the runs differ, so that a verdict that flips can be traced to what changed.

Writes ``comparison.md`` and ``comparison.csv`` (one row per run and finding) into ``--out``.

Example::

    sftlens compare --runs runs/world-s0,runs/world-s1,runs/world-s2 --out runs/compare
    sftlens compare --runs runs/a,runs/b --labels seed0,seed1 --out runs/ab swing_points=8
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sftlens.config import dump_config
from sftlens.errors import DataError
from sftlens.outdir import input_paths, staged_out_dir
from sftlens.reporting.bootstrap import HOLDS, INCONCLUSIVE, NOT
from sftlens.reporting.config import CompareConfig
from sftlens.reporting.findings import Finding, judge
from sftlens.reporting.paper import LEVEL_FIGURES, PAPER_MODEL, level_values, markdown_table
from sftlens.reporting.tables import load_results
from sftlens.runstore import RunDir, atomic_write_text

log = logging.getLogger(__name__)

VERDICT_ORDER = (HOLDS, NOT, INCONCLUSIVE)  # how a mixed agreement lists its counts
WORLD_BUILD = "world-build."  # prefix of a world run's build settings


@dataclass(frozen=True)
class JudgedRun:
    """One run's findings and its Table 2 figures at its largest size."""

    label: str
    run_dir: Path
    findings: list[Finding]
    size: int
    figures: dict[str, str]


@dataclass
class CompareResult:
    """The judged runs, the per-finding agreement and the files written."""

    runs: list[JudgedRun]
    agreement: dict[int, str]
    files: dict[str, str]

    def summary(self) -> str:
        lines = [
            f"{len(self.runs)} runs: " + ", ".join(f"{r.label} = {r.run_dir}" for r in self.runs)
        ]
        for f in self.runs[0].findings:
            each = ", ".join(f"{r.label} {r.findings[f.number - 1].verdict}" for r in self.runs)
            lines.append(f"  {f.number}. {f.claim}: {self.agreement[f.number]} ({each})")
        return "\n".join(lines + [f"{k}: {v}" for k, v in self.files.items()])


def agreement(verdicts: Sequence[str]) -> str:
    """How the runs' verdicts of one finding agree: ``holds in all 3``, or
    ``mixed: holds in 2, inconclusive in 1`` (counts in :data:`VERDICT_ORDER`)."""
    counts = Counter(verdicts)
    if len(counts) == 1:
        return f"{verdicts[0]} in " + ("both" if len(verdicts) == 2 else f"all {len(verdicts)}")
    order = [v for v in VERDICT_ORDER if v in counts] + sorted(set(counts) - set(VERDICT_ORDER))
    return "mixed: " + ", ".join(f"{v} in {counts[v]}" for v in order)


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a.b": value}`` of nested dicts (lists and scalars are leaves)."""
    if not isinstance(obj, Mapping):
        return {prefix: obj}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def differences(settings: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """The keys whose values are not the same in every mapping (a missing key counts as None),
    with each mapping's value, sorted by key."""
    keys = sorted({k for s in settings for k in s})
    return {
        k: [s.get(k) for s in settings]
        for k in keys
        if len({json.dumps(s.get(k), sort_keys=True, default=str) for s in settings}) > 1
    }


def comparable(settings: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``settings`` without the ``world-build.`` keys unless every run has them (a world not
    found is named in the notes, not listed as a difference of every build key)."""
    if all(any(k.startswith(WORLD_BUILD) for k in s) for s in settings):
        return list(settings)
    return [{k: v for k, v in s.items() if not k.startswith(WORLD_BUILD)} for s in settings]


def run_settings(run_dir: Path) -> tuple[dict[str, Any] | None, str]:
    """A study run's config from its manifest, flattened, plus its world's build config under
    ``world-build.`` (when the run names a world found from here), and a note on what is not
    known (None: the run has no manifest)."""
    config = _manifest_config(run_dir / RunDir.MANIFEST)
    if config is None:
        return None, f"no {RunDir.MANIFEST} in {run_dir}: its config is not known"
    found = flatten(config)
    world = config.get("world")
    if world:
        build = _manifest_config(Path(str(world)) / RunDir.MANIFEST)
        if build is None:
            return found, f"its world {world} is not found from here: world-build keys not compared"
        found.update(flatten(build, WORLD_BUILD.rstrip(".")))
    return found, ""


def _manifest_config(path: Path) -> dict[str, Any] | None:
    """The ``config`` of a manifest; None when the file is missing."""
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text()).get("config")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise DataError(f"{path}: not a manifest of sftlens ({err})") from err
    return config if isinstance(config, dict) else {}


def judge_run(label: str, run_dir: Path, cfg: CompareConfig) -> JudgedRun:
    """Judge one run with ``cfg``'s rules, as ``sftlens report`` would."""
    res = load_results(run_dir)
    size, figures = level_values(res.accuracy, cfg.domain)
    return JudgedRun(label, run_dir, judge(res, cfg), size, figures)


def findings_table(runs: Sequence[JudgedRun], agree: Mapping[int, str]) -> pd.DataFrame:
    """One row per finding: each run's verdict and headline interval, and the agreement."""
    rows = []
    for f in runs[0].findings:
        cells = []
        for r in runs:
            mine = r.findings[f.number - 1]
            cells.append(f"{mine.verdict}: {mine.interval}" if mine.interval else mine.verdict)
        rows.append([f"{f.number}. {f.claim}", *cells, agree[f.number]])
    return pd.DataFrame(rows, columns=["finding", *(r.label for r in runs), "across runs"])


def figures_table(runs: Sequence[JudgedRun], domain: str) -> pd.DataFrame:
    """The paper's Table 2 figures beside each run's at its largest size."""
    rows = [
        [f"{fig.quantity} (domain {domain})", fig.value, *(r.figures[key] for r in runs)]
        for key, fig in LEVEL_FIGURES.items()
    ]
    rows.append(["largest SFT size", "1,920", *(f"{r.size:,}" for r in runs)])
    return pd.DataFrame(
        rows, columns=["quantity", f"paper ({PAPER_MODEL})", *(r.label for r in runs)]
    )


def long_table(runs: Sequence[JudgedRun]) -> pd.DataFrame:
    """One row per run and finding (for ``comparison.csv``)."""
    rows = [
        {"label": r.label, "run": str(r.run_dir), "finding": f.number, "claim": f.claim,
         "verdict": f.verdict, "interval": f.interval, "evidence": f.evidence}
        for r in runs
        for f in r.findings
    ]  # fmt: skip
    return pd.DataFrame(rows)


def comparison_markdown(
    runs: Sequence[JudgedRun], agree: Mapping[int, str],
    settings: Sequence[tuple[dict[str, Any] | None, str]], cfg: CompareConfig,
) -> str:  # fmt: skip
    rules = f"swing_points={cfg.swing_points:g}, restore_max_k={cfg.restore_max_k:g}, domain {cfg.domain}"
    lines = [
        f"# Findings across {len(runs)} study runs", "",
        *(f"- **{r.label}**: {r.run_dir}" for r in runs), "",
        f"Each run is judged as `sftlens report` judges it ({rules}); nothing is pooled "
        "across runs. A cell is the run's verdict and its headline contrast with its 95% "
        "interval over seeds and test questions.", "",
        markdown_table(findings_table(runs, agree)), "",
        "## Table 2 figures at each run's largest size", "",
        markdown_table(figures_table(runs, cfg.domain)), "",
        "## Where the runs differ", "",
    ]  # fmt: skip
    known = [(r, found) for r, (found, _) in zip(runs, settings, strict=True) if found is not None]
    lines += [f"- {r.label}: {note}" for r, (_, note) in zip(runs, settings, strict=True) if note]
    diffs = differences(comparable([found for _, found in known]))
    lines += [""] if lines[-1] else []
    if len(known) < 2:
        lines.append("Fewer than two runs have a known config: nothing to compare.")
    elif diffs:
        labels = [r.label for r, _ in known]
        cells = [[k, *(json.dumps(v, default=str) for v in values)] for k, values in diffs.items()]
        lines.append(markdown_table(pd.DataFrame(cells, columns=["key", *labels])))
    else:
        lines.append(f"The configs of {', '.join(r.label for r, _ in known)} are the same.")
    return "\n".join(lines) + "\n"


def run(cfg: CompareConfig, out: Path, *, force: bool = False) -> CompareResult:
    """Judge every run of ``cfg.runs`` and write ``comparison.md`` and ``comparison.csv``."""
    inputs = input_paths(cfg)
    runs = [
        judge_run(label, Path(path), cfg)
        for label, path in zip(cfg.run_labels(), cfg.runs, strict=True)
    ]
    agree = {
        f.number: agreement([r.findings[f.number - 1].verdict for r in runs])
        for f in runs[0].findings
    }
    settings = [run_settings(r.run_dir) for r in runs]
    with staged_out_dir(out, force, inputs) as tmp:
        RunDir.create(tmp, config=dump_config(cfg))
        atomic_write_text(tmp / "comparison.md", comparison_markdown(runs, agree, settings, cfg))
        atomic_write_text(tmp / "comparison.csv", long_table(runs).to_csv(index=False))
    files = {name: str(Path(out) / name) for name in ("comparison.md", "comparison.csv")}
    log.info("comparison of %d runs written to %s", len(runs), out)
    return CompareResult(runs, agree, files)
