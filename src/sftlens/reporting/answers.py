"""Per-question results of a study as matrices: models × questions, with each question's stratum.

``results/answers.parquet`` holds one row per evaluated model (the cell's and restoration's
columns, ``test_set``, ``questions``, ``n``, ``correct``: a ``0``/``1`` string over the
questions of ``results/questions.parquet`` in ``position`` order); ``results/kl_facts.parquet``
one row per fine-tune and analysed fact (``id, relation, level, kl_top10``).

Example::

    pq = correctness(res.answers, res.questions, "test", "in")
    pq.matrix_of(pq.models[pq.models["restore_k"] == 0])     # (M, N) bool
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sftlens.errors import DataError
from sftlens.evaluation import decode_correct, question_key

MODEL_KEYS = ["train_level", "size", "seed", "restore_k", "strategy", "region"]
CELL_KEYS = ["train_level", "size", "seed"]


@dataclass(frozen=True)
class PerQuestion:
    """``models`` (one row per model; column ``row`` indexes ``matrix``), ``matrix`` (M, N),
    and per question its test ``levels`` (N,) and ``strata`` (N,) (relation × level)."""

    models: pd.DataFrame
    matrix: np.ndarray
    levels: np.ndarray
    strata: np.ndarray

    def matrix_of(self, rows: pd.DataFrame) -> np.ndarray:
        """The matrix rows of ``rows`` (a subset of ``models``), in their order."""
        return self.matrix[rows["row"].to_numpy()]


def strata_of(relations: pd.Series, levels: pd.Series) -> np.ndarray:
    """One integer label per (relation, level) pair."""
    keys = relations.astype(str) + "\x1f" + levels.astype(str)
    return pd.factorize(keys, sort=True)[0]


def correctness(
    answers: pd.DataFrame | None, questions: pd.DataFrame | None, test_set: str, domain: str
) -> PerQuestion | None:
    """The models' correctness on ``test_set``'s questions of ``domain`` (None when not stored).

    Raises:
        DataError: an answers row was scored on other questions than ``questions.parquet``.
    """
    if answers is None or questions is None:
        return None
    qs = questions[questions["test_set"] == test_set].sort_values("position")
    rows = answers[answers["test_set"] == test_set].reset_index(drop=True)
    if qs.empty or rows.empty:
        return None
    key = question_key(qs["id"].astype(str).tolist())
    wrong = rows[rows["questions"] != key]
    if not wrong.empty:
        raise DataError(
            f"results/answers.parquet: {len(wrong)} row(s) of test set '{test_set}' were scored "
            "on other questions than results/questions.parquet: rerun the study's assembly"
        )
    full = decode_correct(rows["correct"].astype(str).tolist(), len(qs))
    cols = (qs["domain"] == domain).to_numpy()
    if not cols.any():
        return None
    mine = qs[cols]
    models = rows[MODEL_KEYS].assign(train_level=rows["train_level"].astype(str))
    models["row"] = np.arange(len(models))
    return PerQuestion(
        models, full[:, cols], mine["level"].to_numpy(), strata_of(mine["relation"], mine["level"])
    )


def kl_matrix(kl_facts: pd.DataFrame | None, column: str = "kl_top10") -> PerQuestion | None:
    """Fine-tunes × analysed facts of ``column`` (None when not stored).

    Raises:
        DataError: the fine-tunes were analysed on different facts.
    """
    if kl_facts is None or kl_facts.empty:
        return None
    wide = kl_facts.pivot_table(index=CELL_KEYS, columns="id", values=column, aggfunc="first")
    if wide.isna().to_numpy().any():
        raise DataError("results/kl_facts.parquet: the fine-tunes were analysed on different facts")
    facts = kl_facts.drop_duplicates("id").set_index("id").loc[wide.columns]
    models = wide.index.to_frame(index=False)
    models["train_level"] = models["train_level"].astype(str)
    models["row"] = np.arange(len(models))
    return PerQuestion(
        models,
        wide.to_numpy(dtype=np.float64),
        facts["level"].to_numpy(),
        strata_of(facts["relation"], facts["level"]),
    )
