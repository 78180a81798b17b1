"""Token-level analysis: KL between the fine-tuned and base models at the first answer token.

Example::

    from sftlens.analysis import TokenKLConfig, token_kl
    result = token_kl(base, tuned, tok, facts, relations, levels, mastery_rows, TokenKLConfig())
"""

from sftlens.analysis.config import TokenKLConfig, TokenKLSettings
from sftlens.analysis.divergence import full_kl, kl_from_logits, rank_of, topk_kl
from sftlens.analysis.prompts import best_templates, prompt_for
from sftlens.analysis.token_kl import (
    KLResult,
    PreparedTokenKL,
    check_same_tokenizer,
    prepare_token_kl,
    summarize_kl,
    token_kl,
)

__all__ = [
    "KLResult",
    "PreparedTokenKL",
    "TokenKLConfig",
    "TokenKLSettings",
    "best_templates",
    "check_same_tokenizer",
    "full_kl",
    "kl_from_logits",
    "prepare_token_kl",
    "prompt_for",
    "rank_of",
    "summarize_kl",
    "token_kl",
    "topk_kl",
]
