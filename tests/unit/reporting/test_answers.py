"""Per-question results as matrices: the stored order is checked, strata follow relation × level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sftlens.errors import DataError
from sftlens.evaluation import answer_columns, decode_correct, question_key
from sftlens.reporting.answers import correctness, kl_matrix


def frames(key: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = ["a", "b", "c", "d"]
    q = pd.DataFrame({"test_set": "test", "position": [3, 0, 1, 2], "id": ["d", "a", "b", "c"],
                      "relation": ["P2", "P1", "P1", "P2"], "domain": ["ood", "in", "in", "in"],
                      "level": [4, 0, 0, 4]})  # fmt: skip
    model = {"train_level": "0", "size": 8, "seed": 0, "restore_k": 0.0, "strategy": "none",
             "region": "none", "test_set": "test"}  # fmt: skip
    rows = [{**model, "seed": s, "questions": key or question_key(ids), "n": 4, "correct": c}
            for s, c in ((0, "1010"), (1, "0111"))]  # fmt: skip
    return pd.DataFrame(rows), q


def test_answer_columns_round_trip():
    preds = [{"id": "x", "correct": True}, {"id": "y", "correct": False}]
    cols = answer_columns(preds)
    assert (
        cols["correct"] == "10" and cols["n"] == 2 and cols["questions"] == question_key(["x", "y"])
    )
    assert decode_correct([cols["correct"]], 2).tolist() == [[True, False]]
    with pytest.raises(ValueError, match="3 characters"):
        decode_correct(["10"], 3)


def test_correctness_keeps_the_domains_questions_in_position_order():
    answers, questions = frames()
    pq = correctness(answers, questions, "test", "in")
    assert pq is not None
    assert pq.matrix.tolist() == [[True, False, True], [False, True, True]]  # ids a, b, c
    assert pq.levels.tolist() == [0, 0, 4]
    assert pq.strata[0] == pq.strata[1] != pq.strata[2]
    assert pq.matrix_of(pq.models[pq.models["seed"] == 1]).tolist() == [[False, True, True]]
    assert correctness(answers, questions, "dev", "in") is None
    assert correctness(None, questions, "test", "in") is None


def test_answers_of_other_questions_are_refused():
    answers, questions = frames(key="0123456789abcdef")
    with pytest.raises(DataError, match="answers.parquet"):
        correctness(answers, questions, "test", "in")


def test_kl_matrix_needs_the_same_facts_for_every_fine_tune():
    rows = [{"train_level": "0", "size": s, "seed": 0, "id": i, "relation": "P1", "level": 4,
             "kl_top10": float(s) + k} for s in (4, 8) for k, i in enumerate(("f1", "f2"))]  # fmt: skip
    pq = kl_matrix(pd.DataFrame(rows))
    assert pq is not None and np.allclose(pq.matrix, [[4.0, 5.0], [8.0, 9.0]])
    with pytest.raises(DataError, match="different facts"):
        kl_matrix(pd.DataFrame(rows[:-1]))
    assert kl_matrix(None) is None
