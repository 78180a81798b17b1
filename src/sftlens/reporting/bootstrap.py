"""The findings' intervals: a paired bootstrap over test questions and seeds (pure numpy).

One replicate is the sum of two parts:

* **questions**: the test questions resampled with replacement within each stratum (the report
  uses (relation, test level)), the same resample for every model, each model's statistic
  recomputed and averaged over the seeds.  A replicate is a weight per question (how often it
  was drawn), so every model's statistic for all replicates is one matrix product;
* **seeds**: a multiplier draw of the seed-to-seed spread, ``Σ_s g_s (x_s − x̄) / √(S(S−1))``
  with ``g`` standard normal, scaled by ``√((S−1)/χ²_{S−1})``: the same draw for every arm, so
  each contrast gets its seed variance s²/S with Student-t tails of S−1 degrees of freedom (with
  three seeds a resample of the seeds themselves would give intervals that are too narrow).

A claim with several contrasts gets a simultaneous band (:func:`band`).

Example::

    rng = rng_for(1)
    w = question_weights(strata, N_RESAMPLES, rng)               # (B, N)
    arms = Arms(arm_of_model, seed_of_model, n_arms, n_seeds)
    est, reps = arms.values(macro_accuracy(correct, levels, None)[:, 0],
                            macro_accuracy(correct, levels, w), seed_multipliers(n_seeds, N_RESAMPLES, rng))
    lo, hi = band(est[[1]] - est[[0]], reps[[1]] - reps[[0]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: replicates per interval, the interval's coverage, and the fixed seed of the resampling
N_RESAMPLES = 2000
CONFIDENCE = 0.95
RNG_SEED = 29
CHUNK = 250  # replicates drawn at a time (bounds the memory of the draws)


def rng_for(finding: int) -> np.random.Generator:
    """The fixed random stream of one finding (independent of which other findings ran)."""
    return np.random.default_rng([RNG_SEED, finding])


def question_weights(strata: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_resamples, N)`` float32: how often each question is drawn when every stratum is
    resampled with replacement to its own size (``strata``: ``(N,)`` stratum label per question)."""
    strata = np.asarray(strata)
    n = len(strata)
    out = np.zeros((n_resamples, n), dtype=np.float32)
    if n == 0:
        return out
    order = np.argsort(strata, kind="stable")  # questions grouped by stratum
    _, start, size = np.unique(strata[order], return_index=True, return_counts=True)
    group = np.repeat(np.arange(len(size)), size)  # (N,) stratum index in sorted order
    first, width = start[group], size[group]  # (N,) each sorted position's stratum bounds
    for lo in range(0, n_resamples, CHUNK):
        b = min(CHUNK, n_resamples - lo)
        offset = np.minimum((rng.random((b, n)) * width).astype(np.int64), width - 1)  # (b, N)
        picked = order[first + offset] + np.arange(b)[:, None] * n  # (b, N) flat question index
        out[lo : lo + b] = np.bincount(picked.ravel(), minlength=b * n).reshape(b, n)
    return out


def seed_multipliers(n_seeds: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(S, n_resamples)``: multipliers of the seeds' deviations from their mean such that a
    replicate's seed part has variance s²/S and Student-t tails (S−1 degrees of freedom)."""
    if n_seeds < 2:
        raise ValueError("the seed part needs at least two seeds")
    g = rng.standard_normal((n_seeds, n_resamples))
    t_scale = np.sqrt((n_seeds - 1) / rng.chisquare(n_seeds - 1, n_resamples))  # (B,)
    return g * t_scale / np.sqrt(n_seeds * (n_seeds - 1))


def _weights_or_ones(weights: np.ndarray | None, n: int) -> np.ndarray:
    return np.ones((1, n), dtype=np.float32) if weights is None else weights


def macro_accuracy(
    correct: np.ndarray, levels: np.ndarray, weights: np.ndarray | None
) -> np.ndarray:
    """``(M, B)`` macro accuracy (mean of the per-level accuracies over levels with questions).

    ``correct``: ``(M, N)`` bool per model and question; ``levels``: ``(N,)`` test level per
    question; ``weights``: ``(B, N)`` from :func:`question_weights`, or None for the sample
    itself (B = 1).  Stratified weights keep each level's count, so a level's accuracy is its
    weighted number correct over its size.
    """
    weights = _weights_or_ones(weights, correct.shape[1])
    x = correct.astype(np.float32)
    per_level = []
    for lv in np.unique(levels):
        cols = levels == lv
        total = weights[:, cols].sum(axis=1)  # (B,)
        per_level.append((x[:, cols] @ weights[:, cols].T) / total)  # (M, B)
    if not per_level:
        return np.full((correct.shape[0], weights.shape[0]), np.nan)
    return np.asarray(np.mean(per_level, axis=0, dtype=np.float64))


def mean_value(values: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """``(M, B)`` weighted mean of ``values`` ``(M, N)`` under each replicate's question weights."""
    weights = _weights_or_ones(weights, values.shape[1])
    x = values.astype(np.float64)
    return (x @ weights.T.astype(np.float64)) / weights.sum(axis=1)


@dataclass(frozen=True)
class Arms:
    """Which arm (e.g. a size) and seed each model belongs to; an arm's value at a seed is the
    mean over its models there (e.g. over training levels)."""

    arm: np.ndarray  # (M,) arm index per model
    seed: np.ndarray  # (M,) seed index per model
    n_arms: int
    n_seeds: int

    def _averager(self) -> np.ndarray:
        """``(A·S, M)``: row (a, s) averages the models of arm a at seed s."""
        m = np.zeros((self.n_arms * self.n_seeds, len(self.arm)))
        m[self.arm * self.n_seeds + self.seed, np.arange(len(self.arm))] = 1.0
        counts = m.sum(axis=1, keepdims=True)
        if (counts == 0).any():
            raise ValueError("every arm needs a model at every seed")
        return m / counts

    def values(
        self, point: np.ndarray, replicates: np.ndarray, multipliers: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(``(A,)`` seed-mean estimate, ``(A, B)`` replicates).

        ``point``: ``(M,)`` each model's statistic on the sample; ``replicates``: ``(M, B)`` on
        the question resamples; ``multipliers``: ``(S, B)`` from :func:`seed_multipliers`.
        """
        avg = self._averager()
        per_seed = (avg @ point).reshape(self.n_arms, self.n_seeds)  # (A, S)
        est = per_seed.mean(axis=1)
        questions = (avg @ replicates).reshape(self.n_arms, self.n_seeds, -1).mean(axis=1)
        seeds = (per_seed - est[:, None]) @ multipliers  # (A, B)
        return est, questions + seeds


def band(
    estimate: np.ndarray, replicates: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous intervals of J contrasts: ``estimate`` ``(J,)``, ``replicates`` ``(J, B)``.

    Each contrast's interval is its estimate plus the lower quantile of the replicates' smallest
    deviation from their estimates and the upper quantile of their largest deviation; with one
    contrast this is the percentile interval.
    """
    dev = replicates - estimate[:, None]  # (J, B)
    tail = (1.0 - confidence) / 2
    lo = float(np.quantile(dev.min(axis=0), tail))
    hi = float(np.quantile(dev.max(axis=0), 1.0 - tail))
    return estimate + lo, estimate + hi


HOLDS = "holds"
NOT = "does not hold"
INCONCLUSIVE = "inconclusive"


def some_above(lo: np.ndarray, hi: np.ndarray, threshold: float) -> str:
    """Claim "some contrast exceeds ``threshold``": holds when some lower bound is above it,
    does not hold when every upper bound is at or below it."""
    if float(np.max(lo)) > threshold:
        return HOLDS
    if float(np.max(hi)) <= threshold:
        return NOT
    return INCONCLUSIVE


def some_valley(fall: tuple[np.ndarray, np.ndarray], rise: tuple[np.ndarray, np.ndarray]) -> str:
    """Claim "falls, then rises at some interior point m": each of ``fall`` and ``rise`` is
    (lower, upper) per m; holds when some m has both lower bounds above 0, does not hold when
    every m has an upper bound at or below 0 on its fall or its rise."""
    (f_lo, f_hi), (r_lo, r_hi) = fall, rise
    if bool(np.any((f_lo > 0) & (r_lo > 0))):
        return HOLDS
    if bool(np.all((f_hi <= 0) | (r_hi <= 0))):
        return NOT
    return INCONCLUSIVE


def helps_without_harm(lo: np.ndarray, hi: np.ndarray) -> str:
    """Claim "no k hurts and some k helps" on the changes per k: holds when some lower bound is
    above 0 and no upper bound below 0; does not hold when some upper bound is below 0 or every
    upper bound is at or below 0."""
    if bool(np.any(hi < 0)) or float(np.max(hi)) <= 0:
        return NOT
    if float(np.max(lo)) > 0:
        return HOLDS
    return INCONCLUSIVE
