"""CBQA evaluation: per-level accuracy of a model's greedy answers, in-domain and OOD.

Example::

    from sftlens.evaluation import EvaluateConfig, evaluate_model, levels_for
    result = evaluate_model(model, tok, facts, levels_for(facts, mastery_rows), EvaluateConfig())
"""

from sftlens.evaluation.config import EvaluateConfig
from sftlens.evaluation.evaluate import (
    EvalResult,
    PreparedEvaluation,
    evaluate_model,
    prepare_evaluation,
)
from sftlens.evaluation.levels import check_covered, levels_for, levels_from_rows
from sftlens.evaluation.scoring import accuracy_rows, format_table, macro, score_outputs, summarize

__all__ = [
    "EvalResult",
    "EvaluateConfig",
    "PreparedEvaluation",
    "accuracy_rows",
    "check_covered",
    "evaluate_model",
    "format_table",
    "levels_for",
    "levels_from_rows",
    "macro",
    "prepare_evaluation",
    "score_outputs",
    "summarize",
]
