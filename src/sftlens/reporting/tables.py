"""Report tables from the study's results (pure pandas; no I/O apart from :func:`load_results`).

Every number is a mean over seeds with its spread (sample std-dev; 0 with one seed).

Example::

    res = load_results(Path("runs/demo"))
    print(per_level_table(res.accuracy).to_string())
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sftlens.correlation import spearman
from sftlens.errors import DataError
from sftlens.evaluation import MACRO_LEVEL
from sftlens.reporting.answers import PerQuestion, correctness, kl_matrix
from sftlens.tableio import read_table

CELL = ["train_level", "size", "seed"]


@dataclass
class Results:
    """The study's result tables (``None`` when the study did not produce one)."""

    accuracy: pd.DataFrame
    kl: pd.DataFrame | None = None
    diff_stats: pd.DataFrame | None = None
    diff_groups: pd.DataFrame | None = None
    mastery: pd.DataFrame | None = None
    base_accuracy: pd.DataFrame | None = None
    test_set: str = "test"
    calibration: pd.DataFrame | None = None
    answers: pd.DataFrame | None = None
    questions: pd.DataFrame | None = None
    kl_facts: pd.DataFrame | None = None

    def per_question(self, domain: str) -> PerQuestion | None:
        """Every model's correctness on the report's test questions of ``domain``."""
        return correctness(self.answers, self.questions, self.test_set, domain)

    def kl_per_fact(self) -> PerQuestion | None:
        """Every fine-tune's per-fact token KL (``kl_top10``)."""
        return kl_matrix(self.kl_facts)


def load_results(run_dir: Path) -> Results:
    """Read ``results/*.parquet`` of a study run."""
    res = run_dir / "results"
    if not (res / "accuracy.parquet").is_file():
        raise DataError(f"{res / 'accuracy.parquet'} not found: is {run_dir} a finished study run?")

    def read(name: str) -> pd.DataFrame | None:
        p = res / f"{name}.parquet"
        return pd.read_parquet(p) if p.is_file() else None

    acc = read("accuracy")
    assert acc is not None
    acc["train_level"] = acc["train_level"].astype(str)
    # one evaluation split per report: "test" when the study has it (else the first), so that
    # numbers of different splits are never averaged together
    sets = sorted(acc["test_set"].astype(str).unique())
    test_set = "test" if "test" in sets or not sets else sets[0]
    acc = acc[acc["test_set"] == test_set]
    base = read("base_accuracy")
    if base is not None:
        base = base[base["test_set"] == test_set]
    return Results(acc, read("kl"), read("diff_stats"), read("diff_groups"), read("mastery"),
                   base, test_set, calibration=read("calibration"), answers=read("answers"),
                   questions=read("questions"), kl_facts=read("kl_facts"))  # fmt: skip


def mean_spread(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean, spread (std over rows, ddof=1, 0 for one row) and count of ``value`` per ``by``."""
    g = df.groupby(by, sort=True)[value]
    out = g.agg(mean="mean", spread="std", seeds="count").reset_index()
    out["spread"] = out["spread"].fillna(0.0)
    return out


def fmt(mean: float, spread: float, scale: float = 100.0, digits: int = 1) -> str:
    """``"41.2 ± 1.3"`` (accuracy in points by default)."""
    if mean is None or np.isnan(mean):
        return "–"
    return f"{mean * scale:.{digits}f} ± {spread * scale:.{digits}f}"


def plain(acc: pd.DataFrame) -> pd.DataFrame:
    """Rows of the plain fine-tunes (no restoration)."""
    return acc[(acc["restore_k"] == 0) & (acc["strategy"] == "none")]


def accuracy_vs_size(acc: pd.DataFrame, test_level: int = MACRO_LEVEL) -> pd.DataFrame:
    """Accuracy per (train level, size, domain) at one test level (-1 = macro mean)."""
    rows = plain(acc)
    rows = rows[rows["test_level"] == test_level]
    return mean_spread(rows, ["domain", "train_level", "size"], "accuracy")


def base_macro(base: pd.DataFrame | None, test_set: str = "test") -> dict[str, float]:
    """Domain → the base model's macro accuracy (test level -1) on ``test_set``."""
    if base is None or base.empty:
        return {}
    rows = base[(base["test_level"] == MACRO_LEVEL) & (base["test_set"] == test_set)]
    return dict(zip(rows["domain"], rows["accuracy"].astype(float), strict=True))


def _level_column(domain: str, level: int) -> str:
    return f"{domain} {'mean' if level == MACRO_LEVEL else f'L{level}'}"


def per_level_table(
    acc: pd.DataFrame, size: int | None = None, base: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Table 2: train level × (domain, test level) at the largest size, "mean ± spread";
    with ``base`` (the base model's accuracy rows of the same test set) a first row."""
    rows = plain(acc)
    size = int(rows["size"].max()) if size is None else size
    stats = mean_spread(
        rows[rows["size"] == size], ["train_level", "domain", "test_level"], "accuracy"
    )
    stats["cell"] = [fmt(m, s) for m, s in zip(stats["mean"], stats["spread"], strict=True)]
    stats["column"] = [
        _level_column(d, t) for d, t in zip(stats["domain"], stats["test_level"], strict=True)
    ]
    table = stats.pivot(index="train_level", columns="column", values="cell")
    table.index = [f"train L{x} (n={size})" for x in table.index]
    if base is not None and not base.empty:
        cells = {_level_column(d, int(t)): f"{a * 100:.1f}" for d, t, a in
                 zip(base["domain"], base["test_level"], base["accuracy"], strict=True)}  # fmt: skip
        table = pd.concat([pd.DataFrame([cells], index=["base model"]), table])[table.columns]
    return table


def kl_per_seed(kl: pd.DataFrame, column: str = "kl_top10") -> pd.DataFrame:
    """One KL value per fine-tune: the test_level -1 row, or the n-weighted mean of the levels."""
    if (kl["test_level"] == MACRO_LEVEL).any():
        return kl[kl["test_level"] == MACRO_LEVEL][[*CELL, column]].rename(columns={column: "kl"})
    per_level = kl[kl["test_level"] >= 0].dropna(subset=[column])
    weighted = per_level.assign(w=per_level[column] * per_level["n"])
    g = weighted.groupby(CELL, sort=True)[["w", "n"]].sum().reset_index()
    g["kl"] = g["w"] / g["n"].where(g["n"] > 0)
    return g[[*CELL, "kl"]]


def kl_vs_size(kl: pd.DataFrame, column: str = "kl_top10") -> pd.DataFrame:
    """Fig. 5: KL per (train level, size), mean ± spread over seeds."""
    per = kl_per_seed(kl, column)
    per["train_level"] = per["train_level"].astype(str)
    return mean_spread(per, ["train_level", "size"], "kl")


def restoration_table(acc: pd.DataFrame) -> pd.DataFrame:
    """Table 4: macro accuracy per (train level, size, strategy, region, k), with k=0 as reference."""
    restored = acc[acc["restore_k"] > 0]
    if restored.empty:
        return pd.DataFrame()
    sizes = set(restored["size"])
    base = plain(acc)
    base = base[(base["size"].isin(sizes)) & (base["test_level"] == MACRO_LEVEL)]
    rows = []
    for (strategy, region), part in restored[restored["test_level"] == MACRO_LEVEL].groupby(
        ["strategy", "region"]
    ):
        both = pd.concat([base.assign(strategy=strategy, region=region), part])
        rows.append(
            mean_spread(
                both,
                ["strategy", "region", "train_level", "size", "restore_k", "domain"],
                "accuracy",
            )
        )
    stats = pd.concat(rows)
    stats["cell"] = [fmt(m, s) for m, s in zip(stats["mean"], stats["spread"], strict=True)]
    table = stats.pivot(
        index=["strategy", "region", "train_level", "size", "domain"],
        columns="restore_k",
        values="cell",
    )
    table.columns = ["SFT" if k == 0 else f"k={k:g}%" for k in table.columns]
    return table


def restore_curves(acc: pd.DataFrame) -> pd.DataFrame:
    """Accuracy against k (k=0 = the plain fine-tune) per (strategy, region, domain, train level)."""
    restored = acc[(acc["restore_k"] > 0) & (acc["test_level"] == MACRO_LEVEL)]
    if restored.empty:
        return pd.DataFrame()
    base = plain(acc)
    base = base[base["size"].isin(set(restored["size"])) & (base["test_level"] == MACRO_LEVEL)]
    parts = [restored]
    for (strategy, region), _ in restored.groupby(["strategy", "region"]):
        parts.append(base.assign(strategy=strategy, region=region))
    both = pd.concat(parts)
    return mean_spread(
        both, ["strategy", "region", "domain", "train_level", "restore_k"], "accuracy"
    )


def concentration_table(diff: pd.DataFrame) -> pd.DataFrame:
    """Table 3: share of the total relative update held by the top p% (per train level)."""
    stats = mean_spread(diff, ["train_level", "size", "top_pct"], "share")
    stats["cell"] = [fmt(m, s) for m, s in zip(stats["mean"], stats["spread"], strict=True)]
    table = stats.pivot(index=["train_level", "size"], columns="top_pct", values="cell")
    table.columns = [f"top {p:g}%" for p in table.columns]
    return table


def group_distribution(groups: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Tables 9–10: per layer or per module value, mean ± spread over all fine-tunes."""
    part = groups[groups["kind"] == kind]
    return mean_spread(part, ["group"], "value")


def data_distribution(mastery: pd.DataFrame) -> pd.DataFrame:
    """Table 1: number of facts per mastery level, by domain and split."""
    table = (
        mastery.groupby(["level", "domain", "split"])
        .size()
        .unstack(["domain", "split"], fill_value=0)
    )
    table.columns = [f"{d} {s}" for d, s in table.columns]
    table.index = [f"level {i}" for i in table.index]
    table.loc["total"] = table.sum()
    return table


def mastery_vs_exposure(mastery: pd.DataFrame, max_bins: int = 12) -> pd.DataFrame | None:
    """Mean R per exposure value (None without exposure).  More than ``max_bins`` distinct
    values (a real source's popularity such as ``geo:`` population, near-unique per fact, or a
    world's wide range of mention counts) are grouped into quantile bins, each shown at its
    median."""
    df = _with_exposure(mastery)
    if df is None:
        return None
    if df["exposure"].nunique() > max_bins:
        bins = pd.qcut(df["exposure"].rank(method="first"), max_bins, labels=False)
        df["exposure"] = df.groupby(bins)["exposure"].transform("median")
    return mean_spread(df, ["exposure"], "R")


def exposure_spearman(mastery: pd.DataFrame) -> tuple[float, int] | None:
    """Spearman(exposure, R) over the facts that carry an exposure, and their count."""
    df = _with_exposure(mastery)
    return None if df is None else (spearman(df["exposure"], df["R"]), len(df))


def _with_exposure(mastery: pd.DataFrame) -> pd.DataFrame | None:
    """A copy of the rows that carry an exposure (None when none does)."""
    if "exposure" not in mastery or mastery["exposure"].isna().all():
        return None
    return mastery.dropna(subset=["exposure"]).copy()


def calibration_table(cal: pd.DataFrame) -> pd.DataFrame:
    """The lr calibration: dev accuracy (points) per lr, macro and per level, and the choice."""
    cols = {"dev_macro_in": "dev macro in", "dev_macro_ood": "dev macro ood"}
    cols |= {f"in_L{i}": f"in L{i}" for i in range(5)}
    table = cal.sort_values("lr").set_index("lr")[list(cols)].rename(columns=cols) * 100
    table = table.round(1)
    table["chosen"] = ["← chosen" if c else "" for c in cal.sort_values("lr")["chosen"]]
    table.index = [f"{lr:g}" for lr in table.index]
    return table


def finetune_precision(run_dir: Path) -> str | None:
    """The precision mode(s) the study's fine-tunes ran in, from their train logs (None if no log).

    The mode is one of ``sftlens.finetuning.precision``'s: ``fp32-master`` (a half-precision model
    trained with fp32 master weights), ``pure`` (weights in the model's own dtype), ``kahan``.
    """
    logs = sorted(Path(run_dir).glob("units/*/finetune/log.jsonl"))
    modes = {
        str(rows[0]["precision"])
        for p in logs
        if (rows := read_table(p)) and "precision" in rows[0]
    }
    return ", ".join(sorted(modes)) or None
