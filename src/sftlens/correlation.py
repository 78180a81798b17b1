"""Rank correlation (pure numpy): the one owner of Spearman's rho in sftlens.

Used by the world check (Spearman(exposure, accuracy / probe R)) and the probe summary
(Spearman(exposure, R) of facts that carry an ``exposure``: world facts, ``geo:``
populations).

Example::

    spearman([1, 2, 3], [10, 30, 20])   # 0.5
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def rank(values: ArrayLike) -> np.ndarray:
    """Ranks 1..n with ties averaged."""
    x = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    for v in np.unique(x):
        tie = x == v
        ranks[tie] = ranks[tie].mean()
    return ranks


def spearman(a: ArrayLike, b: ArrayLike) -> float:
    """Spearman rank correlation (NaN when either side is constant)."""
    ra, rb = rank(a), rank(b)
    if len(ra) < 2 or ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])
