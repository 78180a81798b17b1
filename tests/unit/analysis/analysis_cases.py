"""Shared cases of the analysis tests: hand-made facts and relations, a tiny in-test SFT."""

from __future__ import annotations

import copy
from typing import Any

import torch

from sftlens.data.records import Fact, Relation

RELATIONS = {
    "P19": Relation(
        "P19",
        "place of birth",
        "Where was {subject} born ?",
        ("{subject} was born in", "{subject} lives in"),
    ),
    "P36": Relation(
        "P36", "capital", "What is the capital of {subject} ?", ("The capital of {subject} is",)
    ),
}

FACTS = [
    Fact("f1", "P19", "Alice", "Where was Alice born ?", ("Paris",), domain="in", split="test"),
    Fact("f2", "P19", "Bob", "Where was Bob born ?", ("Berlin",), domain="in", split="test"),
    Fact(
        "f3",
        "P36",
        "France",
        "What is the capital of France ?",
        ("Paris",),
        domain="ood",
        split="test",
    ),
    Fact(
        "f4",
        "P36",
        "Germany",
        "What is the capital of Germany ?",
        ("Berlin",),
        domain="ood",
        split="test",
    ),
    Fact(
        "f5", "P19", "Acme", "Where was Acme born ?", ("the lazy dog",), domain="in", split="test"
    ),
]
LEVELS = {"f1": 4, "f2": 4, "f3": 4, "f4": 3, "f5": 4}
MASTERY = [
    {"id": "f1", "relation": "P19", "level": 4, "per_template_correct": [1, 3]},
    {"id": "f2", "relation": "P19", "level": 4, "per_template_correct": [2, 1]},
    {"id": "f3", "relation": "P36", "level": 4, "per_template_correct": [5]},
    {"id": "f4", "relation": "P36", "level": 3, "per_template_correct": [2]},
    {"id": "f5", "relation": "P19", "level": 4, "per_template_correct": [0, 0]},
]


def tiny_sft(model: Any, tok: Any, facts: list[Fact], steps: int = 6, lr: float = 5e-3) -> Any:
    """A copy of ``model`` after a few full-batch AdamW steps on the QA format, loss on the answers."""
    seqs, labels = [], []
    for fact in facts:
        prompt = tok(f"<|question|> {fact.question} <|answer|>")["input_ids"]
        answer = tok(" " + fact.object, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        seqs.append(prompt + answer)
        labels.append([-100] * len(prompt) + answer)
    width = max(map(len, seqs))
    ids = torch.tensor([s + [tok.pad_token_id] * (width - len(s)) for s in seqs])  # [B, T]
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])  # [B, T]
    target = torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels])  # [B, T]
    tuned = copy.deepcopy(model).train()
    opt = torch.optim.AdamW(tuned.parameters(), lr=lr)
    for _ in range(steps):
        tuned(input_ids=ids, attention_mask=mask, labels=target).loss.backward()
        opt.step()
        opt.zero_grad()
    return tuned.eval()
