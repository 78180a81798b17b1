"""The calibration's choice rule and table rows (pure: numbers in, numbers out).

The rule, fixed before any result is seen: pick the learning rate whose fine-tune has
the best **dev macro accuracy in-domain** (the mean of the five per-level accuracies, the
paper's headline metric); on a tie, the smaller learning rate.  A NaN macro (no dev
facts in-domain) never wins.

Example::

    rows = [calibration_row(1e-4, eval_rows_a), calibration_row(3e-4, eval_rows_b)]
    lr = choose_lr(rows)          # 1e-4 when both score the same
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sftlens.errors import DataError
from sftlens.evaluation import MACRO_LEVEL

LEVELS = (0, 1, 2, 3, 4)
#: the column the rule maximises
SCORE = "dev_macro_in"


def _accuracy(rows: Iterable[Mapping[str, Any]], domain: str, level: int) -> float:
    for r in rows:
        if r["domain"] == domain and int(r["test_level"]) == level:
            return float(r["accuracy"])
    return math.nan


def calibration_row(lr: float, eval_rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One table row from an evaluation's rows (``domain, test_level, n, correct, accuracy``):
    ``lr, dev_macro_in, dev_macro_ood, in_L0..in_L4, ood_L0..ood_L4, n_in, n_ood``."""
    row: dict[str, Any] = {
        "lr": float(lr),
        SCORE: _accuracy(eval_rows, "in", MACRO_LEVEL),
        "dev_macro_ood": _accuracy(eval_rows, "ood", MACRO_LEVEL),
    }
    for domain in ("in", "ood"):
        for level in LEVELS:
            row[f"{domain}_L{level}"] = _accuracy(eval_rows, domain, level)
    for domain in ("in", "ood"):
        row[f"n_{domain}"] = sum(
            int(r["n"]) for r in eval_rows if r["domain"] == domain and int(r["test_level"]) >= 0
        )
    return row


def choose_lr(rows: Sequence[Mapping[str, Any]]) -> float:
    """The lr of the row with the highest ``dev_macro_in``; ties → the smaller lr.

    Raises:
        DataError: no row has a dev macro accuracy (no in-domain dev facts were evaluated).
    """
    scored = [(float(r[SCORE]), float(r["lr"])) for r in rows if not math.isnan(float(r[SCORE]))]
    if not scored:
        raise DataError("calibration: no in-domain dev accuracy to choose a learning rate from")
    best = max(score for score, _ in scored)
    return min(lr for score, lr in scored if score == best)


def mark_choice(rows: Sequence[Mapping[str, Any]], lr: float) -> list[dict[str, Any]]:
    """The rows sorted by lr, each with ``chosen`` (True for the chosen lr)."""
    return [{**r, "chosen": float(r["lr"]) == lr} for r in sorted(rows, key=lambda r: r["lr"])]
