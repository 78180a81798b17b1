"""The paper's four claims, judged on intervals over seeds and test questions (pure; tables in).

Each claim is a set of contrasts between arms (sizes, training levels, restoration k) of the
study's per-question results; :mod:`sftlens.reporting.bootstrap` gives each contrast a
simultaneous 95% interval, and the claim's rule (docs/report.md, "Findings") turns the
intervals into ``holds``, ``does not hold`` or ``inconclusive``.

Example::

    for f in judge(load_results(Path("runs/demo")), ReportConfig()):
        print(f.markdown())
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import permutations

import numpy as np
import pandas as pd

from sftlens.reporting import bootstrap as bs
from sftlens.reporting.answers import PerQuestion
from sftlens.reporting.bootstrap import HOLDS, INCONCLUSIVE, NOT
from sftlens.reporting.config import FindingRules
from sftlens.reporting.tables import Results, plain

__all__ = ["HOLDS", "INCONCLUSIVE", "NOT", "Finding", "judge"]

CLAIMS = (
    "Performance peaks at a small SFT size and falls with more data",
    "The training data's mastery level swings accuracy by more than {x:g} points",
    "Token-level KL first falls, then rises with SFT size",
    "Restoring ≤{k:g}% of the top updates does not hurt and helps large-data fine-tunes",
)
NO_ANSWERS = (
    "No per-question results (results/answers.parquet) in this run: rerun the study to get "
    "intervals."
)


@dataclass(frozen=True)
class Finding:
    """One claim's verdict; ``interval`` is its headline contrast with its 95% interval."""

    number: int
    claim: str
    verdict: str
    evidence: str
    interval: str = ""

    def markdown(self) -> str:
        return f"{self.number}. **{self.claim}: {self.verdict}.** {self.evidence}"


@dataclass(frozen=True)
class Contrasts:
    """Per-arm estimates (seed means) and their bootstrap replicates, over common seeds."""

    labels: list[object]
    estimate: np.ndarray  # (A,)
    replicates: np.ndarray  # (A, B)
    seeds: int
    questions: int

    def diff(self, plus: list[int], minus: list[int]) -> tuple[np.ndarray, np.ndarray]:
        return (
            self.estimate[plus] - self.estimate[minus],
            self.replicates[plus] - self.replicates[minus],
        )


Statistic = Callable[[np.ndarray | None], np.ndarray]  # question weights -> (M, B)


def arm_contrasts(
    models: pd.DataFrame, arm_col: str, statistic: Statistic, strata: np.ndarray, number: int
) -> Contrasts | None:
    """Arms of ``models`` (one row per model, in the statistic's row order) by ``arm_col``,
    over the seeds every arm has; None with fewer than two such seeds."""
    labels = sorted(models[arm_col].unique(), key=_order)
    per_arm = [set(models.loc[models[arm_col] == a, "seed"]) for a in labels]
    seeds = sorted(set.intersection(*per_arm)) if per_arm else []
    if len(seeds) < 2:
        return None
    keep = models["seed"].isin(seeds).to_numpy()
    rows = models[keep]
    arms = bs.Arms(
        np.array([labels.index(a) for a in rows[arm_col]]),
        np.array([seeds.index(s) for s in rows["seed"]]),
        len(labels),
        len(seeds),
    )
    rng = bs.rng_for(number)
    weights = bs.question_weights(strata, bs.N_RESAMPLES, rng)
    multipliers = bs.seed_multipliers(len(seeds), bs.N_RESAMPLES, rng)
    est, reps = arms.values(statistic(None)[keep, 0], statistic(weights)[keep], multipliers)
    return Contrasts(labels, est, reps, len(seeds), len(strata))


def _order(x: object) -> tuple[int, float | str]:
    try:
        return (0, float(str(x)))
    except ValueError:
        return (1, str(x))


def _iv(est: float, lo: float, hi: float, scale: float = 100.0, unit: str = " pts") -> str:
    d = 1 if scale == 100.0 else 3
    return f"{est * scale:+.{d}f}{unit} (95% interval {lo * scale:+.{d}f} to {hi * scale:+.{d}f})"


#: said with every interval that rests on two seeds (the seed part's tails have one degree of
#: freedom: its 97.5% quantile is 12.7 against 4.3 with three seeds)
TWO_SEEDS_NOTE = (
    "with 2 seeds the seed part has Student-t tails of 1 degree of freedom, so intervals are "
    "wide: run 3 or more seeds for a verdict"
)


def _basis(c: Contrasts, items: str = "questions") -> str:
    basis = f"{c.seeds} seeds × {c.questions:,} {items}, {bs.N_RESAMPLES:,} resamples"
    return f"{basis} ({TWO_SEEDS_NOTE})" if c.seeds == 2 else basis


def _accuracy_statistic(pq: PerQuestion, rows: pd.DataFrame) -> Statistic:
    correct = pq.matrix_of(rows)
    return lambda w: bs.macro_accuracy(correct, pq.levels, w)


def finding_peak(pq: PerQuestion | None, cfg: FindingRules) -> Finding:
    claim = CLAIMS[0]
    if pq is None:
        return Finding(1, claim, INCONCLUSIVE, NO_ANSWERS)
    rows = plain(pq.models)
    if rows["size"].nunique() < 2:
        return Finding(1, claim, INCONCLUSIVE, "Needs at least two SFT sizes.")
    c = arm_contrasts(rows, "size", _accuracy_statistic(pq, rows), pq.strata, 1)
    if c is None:
        return Finding(1, claim, INCONCLUSIVE, "Needs at least two seeds at every size.")
    last = len(c.labels) - 1
    est, reps = c.diff(list(range(last)), [last] * last)
    lo, hi = bs.band(est, reps)
    v = bs.some_above(lo, hi, 0.0)
    i = int(np.argmax(est))
    iv = _iv(est[i], lo[i], hi[i])
    curve = ", ".join(f"n={s}: {a * 100:.1f}" for s, a in zip(c.labels, c.estimate, strict=True))
    text = (f"Best smaller size n={c.labels[i]} vs n={c.labels[last]}: {iv}; accuracy (mean over "
            f"training levels) {curve}; {_basis(c)}.")  # fmt: skip
    return Finding(1, claim, v, text, iv)


def finding_swing(pq: PerQuestion | None, cfg: FindingRules) -> Finding:
    claim = CLAIMS[1].format(x=cfg.swing_points)
    if pq is None:
        return Finding(2, claim, INCONCLUSIVE, NO_ANSWERS)
    rows = plain(pq.models)
    size = rows["size"].max()
    rows = rows[rows["size"] == size]
    if rows["train_level"].nunique() < 2:
        return Finding(2, claim, INCONCLUSIVE, "Needs at least two training levels.")
    c = arm_contrasts(rows, "train_level", _accuracy_statistic(pq, rows), pq.strata, 2)
    if c is None:
        return Finding(2, claim, INCONCLUSIVE, "Needs at least two seeds at every training level.")
    pairs = list(permutations(range(len(c.labels)), 2))
    est, reps = c.diff([a for a, _ in pairs], [b for _, b in pairs])
    lo, hi = bs.band(est, reps)
    v = bs.some_above(lo * 100, hi * 100, cfg.swing_points)
    i = int(np.argmax(est))
    hi_lv, lo_lv = (c.labels[j] for j in pairs[i])
    iv = _iv(est[i], lo[i], hi[i])
    text = f"At n={size}, training on level {hi_lv} vs level {lo_lv}: {iv}; {_basis(c)}."
    return Finding(2, claim, v, text, iv)


def finding_kl(kl: PerQuestion | None, cfg: FindingRules) -> Finding:
    claim = CLAIMS[2]
    if kl is None:
        return Finding(3, claim, INCONCLUSIVE, "No per-fact token-KL results in this run.")
    rows = kl.models
    if rows["size"].nunique() < 3:
        return Finding(3, claim, INCONCLUSIVE, "Needs at least three SFT sizes.")
    values = kl.matrix_of(rows)
    c = arm_contrasts(rows, "size", lambda w: bs.mean_value(values, w), kl.strata, 3)
    if c is None:
        return Finding(3, claim, INCONCLUSIVE, "Needs at least two seeds at every size.")
    last = len(c.labels) - 1
    inner = list(range(1, last))
    fall, f_reps = c.diff([0] * len(inner), inner)
    rise, r_reps = c.diff([last] * len(inner), inner)
    lo, hi = bs.band(np.concatenate([fall, rise]), np.concatenate([f_reps, r_reps]))
    n = len(inner)
    v = bs.some_valley((lo[:n], hi[:n]), (lo[n:], hi[n:]))
    i = int(np.argmax(np.minimum(fall, rise)))
    f_iv = _iv(fall[i], lo[i], hi[i], 1.0, "")
    r_iv = _iv(rise[i], lo[n + i], hi[n + i], 1.0, "")
    curve = ", ".join(f"n={s}: {k:.3f}" for s, k in zip(c.labels, c.estimate, strict=True))
    text = (f"Valley candidate n={c.labels[inner[i]]}: fall from n={c.labels[0]} {f_iv}, rise to "
            f"n={c.labels[last]} {r_iv}; KL {curve}; {_basis(c, 'facts')}.")  # fmt: skip
    return Finding(3, claim, v, text, f"fall {f_iv}; rise {r_iv}")


def finding_restore(pq: PerQuestion | None, cfg: FindingRules) -> Finding:
    claim = CLAIMS[3].format(k=cfg.restore_max_k)
    if pq is None:
        return Finding(4, claim, INCONCLUSIVE, NO_ANSWERS)
    m = pq.models
    top = m[(m["strategy"] == "top") & (m["restore_k"] > 0) & (m["restore_k"] <= cfg.restore_max_k)]
    if top.empty:
        text = f"No top-k restoration with k ≤ {cfg.restore_max_k:g}% in this run."
        return Finding(4, claim, INCONCLUSIVE, text)
    size = top["size"].max()
    base = plain(m)
    rows = pd.concat([base[base["size"] == size], top[top["size"] == size]])
    c = arm_contrasts(rows, "restore_k", _accuracy_statistic(pq, rows), pq.strata, 4)
    if c is None:
        return Finding(4, claim, INCONCLUSIVE, "Needs at least two seeds at every k.")
    ks = list(range(1, len(c.labels)))
    est, reps = c.diff(ks, [0] * len(ks))
    lo, hi = bs.band(est, reps)
    v = bs.helps_without_harm(lo, hi)
    # the headline is the contrast that decides: a k that hurts, else the best k
    i = int(np.argmin(hi)) if v == NOT and bool(np.any(hi < 0)) else int(np.argmax(est))
    per_k = "; ".join(
        f"k={c.labels[k]:g}%: {_iv(e, a, b)}" for k, e, a, b in zip(ks, est, lo, hi, strict=True)
    )
    text = f"Change vs the plain fine-tune at n={size}: {per_k}; {_basis(c)}."
    return Finding(4, claim, v, text, f"k={c.labels[ks[i]]:g}%: {_iv(est[i], lo[i], hi[i])}")


def short_sets(acc: pd.DataFrame, sizes: set[int] | None = None) -> str:
    """A sentence naming the plain fine-tunes whose set held fewer facts than its size (a
    level's pool ran short under ``select.allow_smaller``), at ``sizes`` (all when None);
    "" when there are none or the table has no ``n_train``."""
    if "n_train" not in acc.columns:
        return ""
    rows = plain(acc)
    rows = rows[rows["n_train"] < rows["size"]]
    if sizes is not None:
        rows = rows[rows["size"].isin(sizes)]
    if rows.empty:
        return ""
    parts = []
    for level, grp in rows.groupby(rows["train_level"].astype(str), sort=True):
        sizes_txt = ", ".join(str(int(x)) for x in sorted(grp["size"].unique()))
        held = ", ".join(f"{int(x):,}" for x in sorted(grp["n_train"].unique()))
        parts.append(f"level {level} at n={sizes_txt} ({held} facts)")
    return " Sets smaller than their size (the level's pool ran short): " + "; ".join(parts) + "."


def _with_note(finding: Finding, note: str) -> Finding:
    return replace(finding, evidence=finding.evidence + note) if note else finding


def judge(res: Results, cfg: FindingRules) -> list[Finding]:
    """The four findings in the paper's order; a finding whose arms include sets smaller
    than their size says so (:func:`short_sets`)."""
    pq = res.per_question(cfg.domain)
    largest = {int(plain(res.accuracy)["size"].max())} if not res.accuracy.empty else set()
    return [
        _with_note(finding_peak(pq, cfg), short_sets(res.accuracy)),
        _with_note(finding_swing(pq, cfg), short_sets(res.accuracy, largest)),
        _with_note(finding_kl(res.kl_per_fact(), cfg), short_sets(res.accuracy)),
        _with_note(finding_restore(pq, cfg), short_sets(res.accuracy, largest)),
    ]
