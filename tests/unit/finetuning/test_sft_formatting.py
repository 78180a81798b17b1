"""Formatting: paper prompt, loss mask on answer tokens + EOS, packed == padded losses."""

from __future__ import annotations

import pytest
import torch

from sftlens.errors import ConfigError, DataError
from sftlens.finetuning.formatting import (
    IGNORE,
    block_causal_mask,
    collate_packed,
    encode_examples,
    encode_pair,
)
from sftlens.finetuning.trainer import SFTLoss, make_batch
from sftlens.prompts import qa_prompt


def test_targets_are_answer_tokens_and_eos(tiny):
    _, tok = tiny
    enc = encode_pair(tok, "Where was Alice born ?", "Paris")
    prompt_ids = tok(qa_prompt("Where was Alice born ?"))["input_ids"]
    assert enc.input_ids[: len(prompt_ids)] == prompt_ids
    kept = [t for t in enc.targets if t != IGNORE]
    assert kept == enc.input_ids[len(prompt_ids) :]
    assert kept[-1] == tok.eos_token_id
    assert tok.decode(kept[:-1]) == " Paris"
    # shifted: targets[t] is input_ids[t + 1] wherever there is a loss
    for t, target in enumerate(enc.targets):
        if target != IGNORE:
            assert enc.input_ids[t + 1] == target


def test_long_prompt_is_cut_from_the_left(tiny):
    _, tok = tiny
    enc = encode_pair(tok, "word " * 200, "Paris", max_length=32)
    assert len(enc.input_ids) == 32
    assert tok.decode([t for t in enc.targets if t != IGNORE][:-1]) == " Paris"


def test_bad_records_and_formats(tiny):
    _, tok = tiny
    with pytest.raises(DataError, match=r"train\[1\] \(id b\): record has no 'answer'"):
        encode_examples(
            tok, [{"question": "q", "answer": "a"}, {"id": "b", "question": "q"}], source="train"
        )
    with pytest.raises(DataError, match="no training examples"):
        encode_examples(tok, [])
    with pytest.raises(ConfigError, match="no chat template"):
        encode_pair(tok, "q", "a", fmt="chat")


def test_block_mask_is_causal_within_samples():
    seq = torch.tensor([[0, 0, 1, 1, 1]])
    allowed = block_causal_mask(seq, torch.float32)[0, 0] == 0
    expected = torch.tensor(
        [
            [1, 0, 0, 0, 0],
            [1, 1, 0, 0, 0],
            [0, 0, 1, 0, 0],
            [0, 0, 1, 1, 0],
            [0, 0, 1, 1, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(allowed, expected)


def test_packed_losses_equal_unpacked(tiny, examples):
    model, tok = tiny
    encs = encode_examples(tok, examples[:6])
    loss = SFTLoss(model)
    cpu = torch.device("cpu")
    padded = loss.token_losses(make_batch(encs, "pad", tok.pad_token_id, cpu, torch.float32))
    packed = loss.token_losses(make_batch(encs, "block", tok.pad_token_id, cpu, torch.float32))
    assert packed.shape == padded.shape == (sum(e.n_targets for e in encs),)
    torch.testing.assert_close(packed, padded, rtol=1e-5, atol=1e-5)
    # one causal mask over the whole row (no blocks) lets later samples see earlier ones
    raw = collate_packed(encs)
    flat = block_causal_mask(torch.zeros_like(raw["seq_ids"]), torch.float32)
    leaky = loss.token_losses(
        {
            "input_ids": raw["input_ids"],
            "position_ids": raw["position_ids"],
            "targets": raw["targets"],
            "attention_mask": flat,
        }
    )
    assert not torch.allclose(leaky, padded, atol=1e-4)


def test_loss_is_masked_to_answer_tokens(tiny, examples):
    model, tok = tiny
    encs = encode_examples(tok, examples[:4])
    batch = make_batch(encs, "pad", tok.pad_token_id, torch.device("cpu"), torch.float32)
    ours = SFTLoss(model)(batch)
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    total = torch.zeros(())
    for row, enc in enumerate(encs):
        prompt_len = enc.targets.index(next(t for t in enc.targets if t != IGNORE))
        answer = enc.input_ids[prompt_len + 1 :]
        lp = torch.log_softmax(logits[row, prompt_len : prompt_len + len(answer)], -1)
        total -= lp[torch.arange(len(answer)), torch.tensor(answer)].sum()
    torch.testing.assert_close(ours, total, rtol=1e-5, atol=1e-4)
