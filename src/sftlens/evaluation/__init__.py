"""CBQA evaluation: per-level accuracy of a model's greedy answers, in-domain and OOD.

Example::

    from sftlens.evaluation import EvaluateConfig, evaluate_model
    from sftlens.probing import levels_for
    result = evaluate_model(model, tok, facts, levels_for(facts, mastery_rows), EvaluateConfig())
"""

from sftlens.evaluation.config import EvaluateConfig, EvaluateSettings
from sftlens.evaluation.evaluate import (
    EvalResult,
    PreparedEvaluation,
    evaluate_model,
    prepare_evaluation,
)
from sftlens.evaluation.scoring import (
    MACRO_LEVEL,
    accuracy_rows,
    answer_columns,
    decode_correct,
    flag_low_n,
    format_table,
    macro,
    question_key,
    score_outputs,
    summarize,
)

__all__ = [
    "MACRO_LEVEL",
    "EvalResult",
    "EvaluateConfig",
    "EvaluateSettings",
    "PreparedEvaluation",
    "accuracy_rows",
    "answer_columns",
    "decode_correct",
    "evaluate_model",
    "flag_low_n",
    "format_table",
    "macro",
    "prepare_evaluation",
    "question_key",
    "score_outputs",
    "summarize",
]
