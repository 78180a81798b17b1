"""The paper's four claims, judged on a study's numbers (pure; DataFrames in, findings out).

Each claim reduces to one number per seed (e.g. the accuracy drop from the peak size to
the largest); over seeds it has a mean and a spread (sample std-dev).  The verdict is

* ``holds`` when mean − sigmas·spread clears the threshold,
* ``does not hold`` when mean + sigmas·spread stays below it (or the shape is wrong,
  e.g. accuracy peaks at the largest size),
* ``inconclusive (spread too large)`` otherwise, and always with a single seed.

Example::

    for f in judge(results.accuracy, results.kl, ReportConfig()):
        print(f.markdown())
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sftlens.reporting.config import ReportConfig
from sftlens.reporting.tables import kl_per_seed, plain

HOLDS = "holds"
NOT = "does not hold"
INCONCLUSIVE = "inconclusive (spread too large)"

CLAIMS = (
    "Performance peaks at a small SFT size and falls with more data",
    "The training data's mastery level swings accuracy by more than {x:g} points",
    "Token-level KL first falls, then rises with SFT size",
    "Restoring ≤{k:g}% of the top updates does not hurt and helps large-data fine-tunes",
)


@dataclass(frozen=True)
class Finding:
    number: int
    claim: str
    verdict: str
    evidence: str

    def markdown(self) -> str:
        return f"{self.number}. **{self.claim}: {self.verdict}.** {self.evidence}"


def verdict(values: np.ndarray, threshold: float, sigmas: float) -> str:
    """Judge ``mean(values) > threshold`` against the spread of ``values`` over seeds."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return INCONCLUSIVE
    m, s = float(values.mean()), float(values.std(ddof=1))
    if m - sigmas * s > threshold:
        return HOLDS
    if m + sigmas * s < threshold:
        return NOT
    return INCONCLUSIVE


def _ms(values: np.ndarray, scale: float = 100.0, unit: str = " pts") -> str:
    values = np.asarray(values, dtype=float)
    s = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    seeds = f" over {len(values)} seed{'s' if len(values) != 1 else ''}"
    return f"{values.mean() * scale:.1f} ± {s * scale:.1f}{unit}{seeds}"


def _per_seed_curve(df: pd.DataFrame, value: str) -> pd.DataFrame:
    """seed × size table of ``value`` averaged over training levels."""
    return df.groupby(["seed", "size"])[value].mean().unstack("size").sort_index(axis=1)


def macro_rows(acc: pd.DataFrame, domain: str) -> pd.DataFrame:
    rows = plain(acc)
    return rows[(rows["test_level"] == -1) & (rows["domain"] == domain)]


def finding_peak(acc: pd.DataFrame, cfg: ReportConfig) -> Finding:
    curve = _per_seed_curve(macro_rows(acc, cfg.domain), "accuracy")
    claim = CLAIMS[0]
    if curve.shape[1] < 2:
        return Finding(1, claim, INCONCLUSIVE, "Needs at least two SFT sizes.")
    mean = curve.mean()
    peak, last = mean.idxmax(), curve.columns[-1]
    text = ", ".join(f"n={s}: {v * 100:.1f}" for s, v in mean.items())
    if peak == last:
        return Finding(
            1, claim, NOT, f"Accuracy (mean over levels) is highest at the largest size ({text})."
        )
    drop = (curve[peak] - curve[last]).to_numpy()
    v = verdict(drop, 0.0, cfg.spread_sigmas)
    return Finding(
        1, claim, v, f"Peak at n={peak}; drop from n={peak} to n={last}: {_ms(drop)} ({text})."
    )


def finding_swing(acc: pd.DataFrame, cfg: ReportConfig) -> Finding:
    rows = macro_rows(acc, cfg.domain)
    claim = CLAIMS[1].format(x=cfg.swing_points)
    size = rows["size"].max()
    at = rows[rows["size"] == size].groupby(["seed", "train_level"])["accuracy"].mean().unstack()
    if at.shape[1] < 2:
        return Finding(2, claim, INCONCLUSIVE, "Needs at least two training levels.")
    mean = at.mean()
    hi, lo = mean.idxmax(), mean.idxmin()
    if hi == lo:  # every level ties
        hi, lo = at.columns[-1], at.columns[0]
    swing = (at[hi] - at[lo]).to_numpy()
    v = verdict(swing * 100, cfg.swing_points, cfg.spread_sigmas)
    return Finding(
        2, claim, v, f"At n={size}, training on level {hi} vs level {lo}: {_ms(swing)} of accuracy."
    )


def finding_kl(kl: pd.DataFrame | None, cfg: ReportConfig) -> Finding:
    claim = CLAIMS[2]
    if kl is None or kl.empty:
        return Finding(3, claim, INCONCLUSIVE, "No token-KL results in this run.")
    curve = _per_seed_curve(kl_per_seed(kl), "kl")
    if curve.shape[1] < 3:
        return Finding(3, claim, INCONCLUSIVE, "Needs at least three SFT sizes.")
    mean = curve.mean()
    low, first, last = mean.idxmin(), curve.columns[0], curve.columns[-1]
    text = ", ".join(f"n={s}: {v:.3f}" for s, v in mean.items())
    if low in (first, last):
        return Finding(3, claim, NOT, f"KL is lowest at n={low}, an end of the range ({text}).")
    fall = (curve[first] - curve[low]).to_numpy()
    rise = (curve[last] - curve[low]).to_numpy()
    vf, vr = verdict(fall, 0.0, cfg.spread_sigmas), verdict(rise, 0.0, cfg.spread_sigmas)
    v = HOLDS if vf == vr == HOLDS else NOT if NOT in (vf, vr) else INCONCLUSIVE
    return Finding(
        3, claim, v,
        f"Minimum at n={low}; fall {_ms(fall, 1, '')}, then rise {_ms(rise, 1, '')} ({text}).",
    )  # fmt: skip


def finding_restore(acc: pd.DataFrame, cfg: ReportConfig) -> Finding:
    claim = CLAIMS[3].format(k=cfg.restore_max_k)
    rows = acc[(acc["test_level"] == -1) & (acc["domain"] == cfg.domain)]
    top = rows[
        (rows["strategy"] == "top")
        & (rows["restore_k"] > 0)
        & (rows["restore_k"] <= cfg.restore_max_k)
    ]
    if top.empty:
        return Finding(
            4,
            claim,
            INCONCLUSIVE,
            f"No top-k restoration with k ≤ {cfg.restore_max_k:g}% in this run.",
        )
    size = top["size"].max()
    top = top[top["size"] == size]
    base = plain(rows)
    base = base[base["size"] == size].groupby(["seed", "train_level"])["accuracy"].mean()
    deltas = {}
    for k, part in top.groupby("restore_k"):
        d = (
            part.groupby(["seed", "train_level", "region"])["accuracy"]
            .mean()
            .groupby(["seed", "train_level"])
            .mean()
        )
        deltas[k] = (d - base).groupby("seed").mean().to_numpy()  # per seed, mean over levels
    hurt = [k for k, d in deltas.items() if verdict(-d, 0.0, cfg.spread_sigmas) == HOLDS]
    best = max(deltas, key=lambda k: float(np.mean(deltas[k])))
    helps = verdict(deltas[best], 0.0, cfg.spread_sigmas)
    text = "; ".join(f"k={k:g}%: {_ms(d)}" for k, d in sorted(deltas.items()))
    if hurt:
        v = NOT
    elif helps == HOLDS:
        v = HOLDS
    else:
        v = NOT if helps == NOT else INCONCLUSIVE
    return Finding(4, claim, v, f"Change vs the plain fine-tune at n={size}: {text}.")


def judge(acc: pd.DataFrame, kl: pd.DataFrame | None, cfg: ReportConfig) -> list[Finding]:
    """The four findings in the paper's order."""
    return [
        finding_peak(acc, cfg),
        finding_swing(acc, cfg),
        finding_kl(kl, cfg),
        finding_restore(acc, cfg),
    ]
