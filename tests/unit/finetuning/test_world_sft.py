"""On the micro knowledge world: 60 samples of QA SFT teach the SFT format on their set."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sftlens.finetuning.config import FinetuneConfig
from sftlens.finetuning.trainer import finetune
from sftlens.prompts import qa_prompt
from sftlens.tableio import read_table

pytestmark = pytest.mark.slow


def qa_accuracy(model, tok, facts: list[dict], max_new_tokens: int = 8) -> float:
    """Greedy closed-book QA accuracy (an accepted answer contained in the output)."""
    tok.padding_side = "left"
    enc = tok([qa_prompt(f["question"]) for f in facts], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(
            **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id
        )
    tok.padding_side = "right"
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    hits = 0
    for fact, text in zip(facts, texts, strict=True):
        answer = text.split("\n")[0].lower()
        hits += any(a.lower() in answer for a in [fact["object"], *(fact.get("aliases") or [])])
    return hits / len(facts)


def test_sft_teaches_its_set_and_keeps_known_facts(micro_world: Path):
    """The micro world's corpus never holds the SFT format, so the base model answers few
    questions in it (~0.2); 3 epochs of SFT on 60 samples at lr 3e-3 must teach the trained
    facts (many of them barely seen in pretraining) and not lose held-out known facts."""
    from sftlens.models import load_model, load_tokenizer

    facts = [
        f for f in read_table(micro_world / "world" / "facts.jsonl") if f["role"] != "pretrain_qa"
    ]
    train = [f for f in facts if f["split"] == "train"][:60]
    known_test = [f for f in facts if f["split"] == "test" and f["exposure"] >= 4]
    assert len(train) == 60 and len(known_test) >= 15
    model = load_model(micro_world / "model", dtype="float32", device="cpu")
    tok = load_tokenizer(micro_world / "model", padding_side="right")
    train_before, known_before = qa_accuracy(model, tok, train), qa_accuracy(model, tok, known_test)
    examples = [{"question": f["question"], "answer": f["object"]} for f in train]
    finetune(model, tok, examples, FinetuneConfig(lr=3e-3, epochs=3), progress=False)
    train_after, known_after = qa_accuracy(model, tok, train), qa_accuracy(model, tok, known_test)
    assert train_after >= train_before + 0.3, (train_before, train_after)
    assert known_after >= known_before - 0.05, (known_before, known_after)
