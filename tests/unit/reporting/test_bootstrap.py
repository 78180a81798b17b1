"""The bootstrap core: stratified question weights, paired arms, bands and the verdict rules."""

from __future__ import annotations

import numpy as np
import pytest

from sftlens.evaluation import accuracy_rows
from sftlens.reporting import bootstrap as bs


def test_question_weights_resample_within_each_stratum():
    strata = np.array([2, 0, 0, 1, 2, 2, 0, 1, 2])
    w = bs.question_weights(strata, 500, np.random.default_rng(0))
    assert w.shape == (500, 9)
    for s in np.unique(strata):  # every stratum keeps its size in every replicate
        assert (w[:, strata == s].sum(axis=1) == (strata == s).sum()).all()
    assert w.min() >= 0 and w[:, strata == 2].std() > 0
    single = bs.question_weights(np.array([0, 1, 1]), 10, np.random.default_rng(0))
    assert (single[:, 0] == 1).all()  # a one-question stratum is always drawn once


def test_same_seed_same_weights():
    strata = np.repeat(np.arange(4), 5)
    a = bs.question_weights(strata, 50, bs.rng_for(1))
    b = bs.question_weights(strata, 50, bs.rng_for(1))
    c = bs.question_weights(strata, 50, bs.rng_for(2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_macro_accuracy_on_the_sample_is_the_studys_macro():
    rng = np.random.default_rng(3)
    levels = rng.integers(0, 5, 60)
    correct = rng.random((4, 60)) < 0.4
    got = bs.macro_accuracy(correct, levels, None)[:, 0]
    for m in range(4):
        preds = [{"domain": "in", "level": int(lv), "correct": bool(c)}
                 for lv, c in zip(levels, correct[m], strict=True)]  # fmt: skip
        macro = next(r for r in accuracy_rows(preds, ["in"]) if r["test_level"] == -1)
        assert got[m] == pytest.approx(macro["accuracy"])
    w = bs.question_weights(levels, 7, rng)
    assert bs.macro_accuracy(correct, levels, w).shape == (4, 7)


def test_mean_value_weights_questions():
    values = np.array([[1.0, 3.0, 5.0]])
    w = np.array([[3.0, 0.0, 0.0], [1.0, 1.0, 1.0]], dtype=np.float32)
    assert np.allclose(bs.mean_value(values, w), [[1.0, 3.0]])


def test_arms_need_every_seed_and_identical_seeds_add_no_seed_spread():
    arms = bs.Arms(np.array([0, 0, 1]), np.array([0, 1, 0]), 2, 2)
    with pytest.raises(ValueError, match="every arm"):
        arms.values(np.zeros(3), np.zeros((3, 4)), bs.seed_multipliers(2, 4, bs.rng_for(0)))
    arms = bs.Arms(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), 2, 2)
    est, reps = arms.values(
        np.array([0.2, 0.2, 0.5, 0.5]),
        np.full((4, 6), 0.3),
        bs.seed_multipliers(2, 6, bs.rng_for(0)),
    )
    assert np.allclose(est, [0.2, 0.5]) and np.allclose(reps, 0.3)


def test_seed_part_has_the_seed_variance():
    x = np.array([1.0, 2.0, 6.0, 3.0])
    m = bs.seed_multipliers(4, 200_000, np.random.default_rng(0))
    draws = (x - x.mean()) @ m
    t_var = 3 / (3 - 2)  # variance of Student t with 3 degrees of freedom
    assert draws.var() == pytest.approx(x.var(ddof=1) / 4 * t_var, rel=0.1)


def test_band_of_one_contrast_is_the_percentile_interval():
    reps = np.random.default_rng(0).normal(2.0, 1.0, (1, 4000))
    lo, hi = bs.band(np.array([2.0]), reps)
    assert lo[0] == pytest.approx(np.quantile(reps, 0.025))
    assert hi[0] == pytest.approx(np.quantile(reps, 0.975))


def test_simultaneous_band_is_wider_than_each_interval():
    reps = np.random.default_rng(0).normal(0.0, 1.0, (5, 4000))
    lo, hi = bs.band(np.zeros(5), reps)
    assert (lo < np.quantile(reps, 0.025, axis=1)).all()
    assert (hi > np.quantile(reps, 0.975, axis=1)).all()


def _contrast(effect: float, seed_noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two arms over 3 seeds and 400 questions in 8 strata; arm 1 is better by ``effect``."""
    rng = np.random.default_rng(seed)
    strata = np.repeat(np.arange(8), 50)
    levels = strata % 5
    hard = rng.random(400)  # shared by every model: the arms are paired on questions
    thresholds = 0.4 + rng.normal(0, seed_noise, 6) + np.repeat([0.0, effect], 3)  # (arm, seed)
    correct = hard[None, :] < thresholds[:, None]  # (6, 400)
    arms = bs.Arms(np.repeat([0, 1], 3), np.tile([0, 1, 2], 2), 2, 3)
    g = bs.rng_for(9)
    w = bs.question_weights(strata, bs.N_RESAMPLES, g)
    est, reps = arms.values(
        bs.macro_accuracy(correct, levels, None)[:, 0],
        bs.macro_accuracy(correct, levels, w),
        bs.seed_multipliers(3, bs.N_RESAMPLES, g),
    )
    return bs.band(est[[1]] - est[[0]], reps[[1]] - reps[[0]])


def test_a_clear_effect_holds():
    lo, hi = _contrast(0.15, 0.01)
    assert bs.some_above(lo, hi, 0.0) == bs.HOLDS
    assert bs.some_above(lo, hi, 0.30) == bs.NOT  # the interval excludes a 30-point effect


def test_no_effect_does_not_exceed_zero():
    lo, hi = _contrast(0.0, 0.0)  # identical arms: the interval is exactly 0
    assert lo[0] == hi[0] == 0.0
    assert bs.some_above(lo, hi, 0.0) == bs.NOT


def test_pure_noise_is_inconclusive_about_as_often_as_the_coverage_says():
    verdicts = [bs.some_above(*_contrast(0.0, 0.05, seed), 0.0) for seed in range(40)]
    wrong = sum(v != bs.INCONCLUSIVE for v in verdicts)
    assert wrong <= 6  # 95% intervals: about 2 of 40 expected


def test_pure_noise_interval_covers_zero():
    lo, hi = _contrast(0.0, 0.05, 0)
    assert lo[0] < 0 < hi[0]


def test_same_inputs_same_interval():
    assert _contrast(0.05, 0.02) == _contrast(0.05, 0.02)


def test_valley_rule():
    up, down, zero = (np.array([1.0]), np.array([2.0])), (np.array([-2.0]), np.array([-1.0])), (
        np.array([-1.0]), np.array([1.0]))  # fmt: skip
    assert bs.some_valley(up, up) == bs.HOLDS
    assert bs.some_valley(up, down) == bs.NOT
    assert bs.some_valley(up, zero) == bs.INCONCLUSIVE


def test_restoration_rule():
    assert bs.helps_without_harm(np.array([0.5, -1.0]), np.array([2.0, 1.0])) == bs.HOLDS
    assert bs.helps_without_harm(np.array([0.5, -3.0]), np.array([2.0, -1.0])) == bs.NOT
    assert bs.helps_without_harm(np.array([-1.0, -1.0]), np.array([0.0, 0.0])) == bs.NOT
    assert bs.helps_without_harm(np.array([-1.0, -1.0]), np.array([1.0, 1.0])) == bs.INCONCLUSIVE
