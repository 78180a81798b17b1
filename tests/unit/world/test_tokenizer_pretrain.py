"""Tokenizer (newline, added tokens, BOS) and the pretraining loop on a toy corpus."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sftlens.config import load_config
from sftlens.determinism import deterministic_kernels
from sftlens.world.config import WorldConfig
from sftlens.world.presets import resolve_spec
from sftlens.world.pretrain import encode_lines, epoch_blocks, lr_at, make_model, pretrain
from sftlens.world.tokenizer import newline_id, train_tokenizer

LINES = [
    "Kalo Renvi was born in Durima.",
    "The capital of Velonia is Sarkot.",
    "<|question|> Where was Kalo Renvi born? <|answer|> Durima</s>",
] * 30


def test_tokenizer_specials_and_newline():
    tok = train_tokenizer(LINES, vocab_size=300)
    ids = tok("<|question|> Where was Kalo Renvi born? <|answer|> Durima</s>").input_ids
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    for special in ("<|question|>", "<|answer|>"):
        assert tok.convert_tokens_to_ids(special) in ids
    nl = newline_id(tok)
    two = tok("born in Durima.\nThe capital", add_special_tokens=False).input_ids
    assert two.count(nl) == 1 and tok.decode([nl]) == "\n"
    assert tok.decode(tok("Kalo Renvi", add_special_tokens=False).input_ids) == "Kalo Renvi"


def test_epoch_blocks_and_schedule():
    lines = [np.arange(5, dtype=np.int32), np.arange(7, dtype=np.int32)]
    blocks = epoch_blocks(lines, 4, np.random.default_rng(0))
    assert blocks.shape == (3, 4)
    peak = 1e-3
    assert lr_at(0, 100, 10, peak) == peak / 10
    assert abs(lr_at(10, 100, 10, peak) - peak) < 1e-12
    assert abs(lr_at(100, 100, 10, peak) - 0.1 * peak) < 1e-12


def test_pretrain_lowers_loss_and_is_deterministic(tmp_path):
    spec = resolve_spec(load_config(WorldConfig, values={"preset": "micro"}))
    spec = replace(
        spec, hidden=32, layers=1, intermediate=64, epochs=15, batch_size=4, seq_len=32, lr=1e-2
    )
    tok = train_tokenizer(LINES, vocab_size=300)
    enc = encode_lines(tok, LINES[:30])  # ~3 steps per epoch
    assert all(x[0] == tok.bos_token_id and x[-1] == newline_id(tok) for x in enc)
    logs = []
    for _ in range(2):
        model = make_model(spec, tok, seed=0)
        logs.append(
            pretrain(
                model, enc, spec, "cpu", seed=0, log_path=tmp_path / "log.jsonl", progress=False
            )
        )
    with deterministic_kernels():  # every pretraining op has a deterministic kernel; on CPU
        model = make_model(spec, tok, seed=0)  # the same numbers as without the mode
        logs.append(
            pretrain(
                model, enc, spec, "cpu", seed=0, log_path=tmp_path / "log.jsonl", progress=False
            )
        )
    for other in logs[1:]:
        assert logs[0] == [{**r, "seconds": logs[0][i]["seconds"]} for i, r in enumerate(other)]
    assert logs[0][-1]["loss"] < 0.5 * logs[0][0]["loss"]
    assert (tmp_path / "log.jsonl").read_text().count("\n") == len(logs[0])
