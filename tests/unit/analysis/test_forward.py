"""The teacher-forced batch layout: the answers' log-probabilities equal unpadded forward passes."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from sftlens.analysis.forward import answer_logits, answer_logprob, encode
from sftlens.errors import SftlensError


def test_answer_logprob_matches_unpadded_forward(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    prompts, answers = (
        ["Alice was born in", "<|question|> Where was Bob born ? <|answer|>"],
        ["Paris", "the lazy dog"],
    )
    batch = encode(tok, prompts, answers)
    logits = answer_logits(model, batch.ids, batch.mask, batch.prompt_len)  # [B, A, V]
    got = answer_logprob(logits, batch.answer, batch.answer_mask)
    for b, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        p = tok(prompt)["input_ids"]
        a = tok(" " + answer, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=torch.tensor([p + a])).logits[0], -1)  # [T, V]
        want = sum(logp[len(p) - 1 + j, t].item() for j, t in enumerate(a))
        assert got[b].item() == pytest.approx(want, rel=1e-4)


def test_every_prompt_ends_in_the_same_column(tiny: tuple[Any, Any]) -> None:
    _, tok = tiny
    batch = encode(
        tok, ["Alice was born in", "a much longer prompt than the first one"], ["Paris", "x"]
    )
    for b, prompt in enumerate(("Alice was born in", "a much longer prompt than the first one")):
        p = tok(prompt)["input_ids"]
        row = batch.ids[b, batch.prompt_len - len(p) : batch.prompt_len].tolist()
        assert row == p
        assert batch.mask[b, : batch.prompt_len - len(p)].sum() == 0  # left padding
    assert batch.answer_mask.tolist()[1][0] == 1


class _NoAnswerTokens:
    """A tokenizer that gives every answer (no special tokens) zero tokens."""

    pad_token_id = 0

    def __call__(self, texts: list[str], add_special_tokens: bool) -> dict[str, list[list[int]]]:
        return {"input_ids": [[1, 2] if add_special_tokens else [] for _ in texts]}


def test_an_answer_of_no_tokens_is_refused() -> None:
    with pytest.raises(SftlensError, match="an answer tokenizes to no tokens"):
        encode(_NoAnswerTokens(), ["Alice was born in"], ["x"])  # type: ignore[arg-type]
