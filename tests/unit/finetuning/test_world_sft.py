"""On the micro knowledge world: 60 samples of QA SFT make the model answer known facts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sftlens.finetuning.config import FinetuneConfig
from sftlens.finetuning.formatting import paper_prompt
from sftlens.finetuning.trainer import finetune
from sftlens.tableio import read_table

pytestmark = pytest.mark.slow


def qa_accuracy(model, tok, facts: list[dict], max_new_tokens: int = 8) -> float:
    """Greedy closed-book QA accuracy (an accepted answer contained in the output)."""
    tok.padding_side = "left"
    enc = tok([paper_prompt(f["question"]) for f in facts], return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    tok.padding_side = "right"
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    hits = 0
    for fact, text in zip(facts, texts, strict=True):
        answer = text.split("\n")[0].lower()
        hits += any(a.lower() in answer for a in [fact["object"], *(fact.get("aliases") or [])])
    return hits / len(facts)


def test_sft_raises_accuracy_of_known_facts(micro_world: Path):
    from sftlens.models import load_model, load_tokenizer

    facts = [f for f in read_table(micro_world / "world" / "facts.jsonl") if f["domain"] == "in" and f["role"] != "pretrain_qa"]
    cut = sorted(f["exposure"] for f in facts)[len(facts) * 3 // 4]  # top quartile of exposure
    known = [f for f in facts if f["exposure"] >= max(cut, 1)]
    train = [f for f in known if f["split"] == "train"][:60]
    test = [f for f in known if f["split"] == "test"][:60] or [f for f in known if f["split"] == "train"][60:120]
    assert len(train) >= 30 and len(test) >= 20
    model = load_model(micro_world / "model", dtype="float32", device="cpu")
    tok = load_tokenizer(micro_world / "model", padding_side="right")
    before = qa_accuracy(model, tok, test)
    examples = [{"question": f["question"], "answer": f["object"]} for f in train]
    finetune(model, tok, examples, FinetuneConfig(lr=1e-3, batch_size=8, epochs=1), progress=False)
    after = qa_accuracy(model, tok, test)
    assert after >= before + 0.25, (before, after)
