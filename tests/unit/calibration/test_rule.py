"""The calibration's choice rule: argmax of the dev macro in-domain, ties → the smaller lr."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sftlens.calibration import calibration_row, choose_lr, mark_choice
from sftlens.errors import DataError


def row(lr: float, macro: float) -> dict[str, float]:
    return {"lr": lr, "dev_macro_in": macro}


def test_argmax_of_dev_macro_in_domain():
    rows = [row(1e-5, 0.2), row(3e-5, 0.5), row(1e-4, 0.4), row(3e-4, 0.1)]
    assert choose_lr(rows) == 3e-5


def test_tie_goes_to_the_smaller_lr_whatever_the_order():
    rows = [row(3e-4, 0.5), row(1e-4, 0.5), row(1e-5, 0.2)]
    assert choose_lr(rows) == 1e-4
    assert choose_lr(list(reversed(rows))) == 1e-4


def test_ood_accuracy_never_decides():
    rows = [{**row(1e-5, 0.3), "dev_macro_ood": 0.0}, {**row(1e-4, 0.3), "dev_macro_ood": 0.9}]
    assert choose_lr(rows) == 1e-5


def test_nan_never_wins_and_all_nan_is_an_error():
    assert choose_lr([row(1e-5, math.nan), row(1e-4, 0.0)]) == 1e-4
    with pytest.raises(DataError, match="no in-domain dev accuracy"):
        choose_lr([row(1e-5, math.nan)])


@given(st.lists(st.tuples(st.integers(1, 1000), st.sampled_from([0.0, 0.25, 0.5])), min_size=1,
                unique_by=lambda t: t[0]))  # fmt: skip
def test_choice_is_the_smallest_lr_among_the_best(pairs: list[tuple[int, float]]):
    rows = [row(lr * 1e-6, macro) for lr, macro in pairs]
    best = max(m for _, m in pairs)
    assert choose_lr(rows) == min(lr * 1e-6 for lr, m in pairs if m == best)


def test_row_from_evaluation_rows_and_marking():
    eval_rows = [{"domain": d, "test_level": t, "n": 2 if t >= 0 else 10, "correct": 1,
                  "accuracy": 0.1 * (t + 2) + (0.5 if d == "ood" else 0)}
                 for d in ("in", "ood") for t in (-1, 0, 1, 2, 3, 4)]  # fmt: skip
    r = calibration_row(1e-4, eval_rows)
    assert r["dev_macro_in"] == pytest.approx(0.1) and r["dev_macro_ood"] == pytest.approx(0.6)
    assert r["in_L4"] == pytest.approx(0.6) and r["ood_L0"] == pytest.approx(0.7)
    assert r["n_in"] == r["n_ood"] == 10
    marked = mark_choice([row(3e-4, 0.1), row(1e-5, 0.2)], 1e-5)
    assert [m["lr"] for m in marked] == [1e-5, 3e-4]
    assert [m["chosen"] for m in marked] == [True, False]
