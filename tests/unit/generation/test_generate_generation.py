"""The engine (shared prefill, KV cache, compaction) against a naive one-row-at-a-time loop."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from sftlens.errors import ConfigError
from sftlens.generation import GenerationConfig, generate
from sftlens.generation.cap_hits import CapHits
from sftlens.generation.generate import batch_decode, encode_prompts
from sftlens.generation.sampling import pick_tokens, row_keys, row_uniforms
from sftlens.generation.stops import eos_ids


def answer_text(text: str, span: str) -> str:
    """The answer rules written out on text: ``full`` strips the whole text; ``first_line``
    drops blank lines before the answer and keeps the answer's line up to its newline."""
    if span == "full":
        return text.strip()
    body = text.lstrip()
    lead = text[: len(text) - len(body)]
    return lead.rsplit("\n", 1)[-1] + body.split("\n", 1)[0]


def naive(
    model: Any,
    tok: Any,
    prompts: list[str],
    cfg: GenerationConfig,
    raw: bool = False,
    capped: list[bool] | None = None,
) -> list[list[str]]:
    """One row at a time, no padding, no cache: re-encode the whole sequence every step; a
    row ends at EOS or (``first_line``) once its decoded text holds a newline after non-space
    text.  ``raw``: the decoded text before the answer rule; ``capped`` gets a flag per row:
    no stop ended it."""
    n = 1 if cfg.greedy else cfg.n_samples
    eos = set(eos_ids(tok, model))
    out = []
    for prompt, ids in zip(prompts, encode_prompts(tok, prompts), strict=True):
        keys = row_keys([prompt], n, cfg.seed)
        uniforms = torch.from_numpy(row_uniforms(keys, cfg.max_new_tokens)).float()
        texts = []
        for j in range(n):
            seq = list(ids)
            new: list[int] = []
            ended = False
            for t in range(cfg.max_new_tokens):
                with torch.no_grad():
                    logits = model(torch.tensor([seq])).logits[:, -1, :]
                u = None if cfg.greedy else uniforms[j : j + 1, t]
                nxt = int(pick_tokens(logits, u, cfg.temperature, cfg.top_p, cfg.top_k)[0])
                if nxt in eos:
                    ended = True
                    break
                new.append(nxt)
                seq.append(nxt)
                text = tok.decode(new, skip_special_tokens=True)
                if cfg.stop_at_newline and "\n" in text.lstrip():
                    ended = True
                    break
            if capped is not None:
                capped.append(not ended)
            text = tok.decode(new, skip_special_tokens=True)
            texts.append(text if raw else answer_text(text, cfg.answer_span))
        out.append(texts * cfg.n_samples if n == 1 else texts)
    return out


def test_greedy_equals_naive(model_tok: tuple[Any, Any], prompts: list[str]) -> None:
    model, tok = model_tok
    cfg = GenerationConfig(max_new_tokens=12, batch_size=4)
    got = generate(model, tok, prompts, cfg)
    assert got == naive(model, tok, prompts, cfg)
    lengths = {len(o[0]) for o in got}
    assert len(lengths) > 2  # rows end at different steps: the compaction path ran


@pytest.mark.parametrize(
    ("temperature", "top_p", "top_k"), [(0.7, 1.0, 0), (1.0, 0.8, 0), (0.5, 1.0, 40)]
)
def test_sampled_equals_naive_with_row_seeds(
    model_tok: tuple[Any, Any], prompts: list[str], temperature: float, top_p: float, top_k: int
) -> None:
    model, tok = model_tok
    cfg = GenerationConfig(
        max_new_tokens=8, n_samples=3, temperature=temperature, top_p=top_p, top_k=top_k, seed=5
    )
    got = generate(model, tok, prompts[:3], cfg)
    assert got == naive(model, tok, prompts[:3], cfg)
    assert all(len(o) == 3 for o in got)
    assert any(len(set(o)) > 1 for o in got)  # samples differ from each other


def test_samples_do_not_depend_on_batching_or_order(
    model_tok: tuple[Any, Any], prompts: list[str]
) -> None:
    model, tok = model_tok
    cfg = GenerationConfig(max_new_tokens=10, n_samples=4, temperature=0.9, batch_size=4)
    small = generate(model, tok, prompts, cfg)
    big = generate(
        model, tok, prompts[::-1], GenerationConfig(**{**cfg.__dict__, "batch_size": 64})
    )
    assert small == big[::-1]
    other_seed = generate(model, tok, prompts, GenerationConfig(**{**cfg.__dict__, "seed": 1}))
    assert other_seed != small


def test_outputs_are_cut_at_newline_and_shaped(
    model_tok: tuple[Any, Any], prompts: list[str]
) -> None:
    model, tok = model_tok
    cfg = GenerationConfig(max_new_tokens=16, n_samples=2, temperature=1.0)
    got = generate(model, tok, prompts, cfg)
    assert len(got) == len(prompts)
    assert all(len(o) == 2 and all("\n" not in s for s in o) for o in got)
    free_cfg = GenerationConfig(max_new_tokens=16, n_samples=2, temperature=1.0, answer_span="full")
    free = generate(model, tok, prompts, free_cfg)
    assert any("\n" in s for o in free for s in o)  # full: no newline ends a row
    assert free == naive(model, tok, prompts, free_cfg)
    assert generate(model, tok, [], cfg) == []


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_newlines_before_the_answer_are_skipped(
    newline_first: tuple[Any, Any], prompts: list[str], temperature: float
) -> None:
    model, tok = newline_first
    cfg = GenerationConfig(max_new_tokens=10, n_samples=3, temperature=temperature, batch_size=4)
    full_cfg = GenerationConfig(**{**cfg.__dict__, "answer_span": "full"})
    raw = naive(model, tok, prompts, full_cfg, raw=True)
    assert all(s.startswith("\n ") and s.strip() for o in raw for s in o)  # the hook works
    free = generate(model, tok, prompts, full_cfg)
    assert free == [[s.strip() for s in o] for o in raw]  # full: the whole text, stripped
    got = generate(model, tok, prompts, cfg)
    assert got == naive(model, tok, prompts, cfg)
    assert got == [[answer_text(s, "first_line") for s in o] for o in raw]
    assert all(s.startswith(" ") and s.strip() and "\n" not in s for o in got for s in o)
    if temperature > 0:  # some sampled rows were cut after their answer
        assert any("\n" in s for o in free for s in o)


def test_tokenizer_without_pad_token(model_tok: tuple[Any, Any], prompts: list[str]) -> None:
    model, tok = model_tok
    cfg = GenerationConfig(max_new_tokens=6)
    expected = generate(model, tok, prompts, cfg)
    saved = tok.pad_token
    tok.pad_token = None
    try:
        assert tok.pad_token_id is None
        assert generate(model, tok, prompts, cfg) == expected
    finally:
        tok.pad_token = saved


def test_bad_config_is_one_line_error() -> None:
    with pytest.raises(ConfigError, match="top_p"):
        GenerationConfig(top_p=0.0)
    with pytest.raises(ConfigError, match="backend"):
        GenerationConfig(backend="tgi")
    with pytest.raises(ConfigError, match="unknown answer_span 'line'; choose first_line or full"):
        GenerationConfig(answer_span="line")


def test_pick_tokens_follows_the_distribution() -> None:
    logits = torch.log(torch.tensor([[0.1, 0.6, 0.3]])).repeat(4000, 1)
    keys = row_keys(["p"], 4000, seed=0)
    u = torch.from_numpy(row_uniforms(keys, 1)[:, 0])
    counts = torch.bincount(pick_tokens(logits, u, 1.0, 1.0, 0), minlength=3).double() / 4000
    assert torch.allclose(counts, torch.tensor([0.1, 0.6, 0.3], dtype=torch.float64), atol=0.03)
    top1 = pick_tokens(logits, u, 1.0, 1.0, 1)
    assert bool((top1 == 1).all())
    nucleus = pick_tokens(logits, u, 1.0, 0.7, 0)  # keeps 0.6 and 0.3
    assert set(nucleus.tolist()) == {1, 2}


def test_pick_tokens_never_picks_a_filtered_token_at_u_near_one() -> None:
    logits = torch.tensor([[2.0, 1.0, -50.0, -50.0]])
    for u in (0.0, 0.5, 1.0 - 2**-30, 1.0):
        tok = pick_tokens(logits, torch.tensor([u], dtype=torch.float64), 1.0, 0.9, 0)
        assert int(tok[0]) in (0, 1)


def test_cap_hits_count_the_rows_that_no_stop_ended(
    model_tok: tuple[Any, Any], prompts: list[str]
) -> None:
    model, tok = model_tok
    hits = CapHits()
    endless = GenerationConfig(max_new_tokens=4, answer_span="full", ignore_eos=True)
    generate(model, tok, prompts, endless, cap_hits=hits)
    assert (hits.completions, hits.capped) == (len(prompts), len(prompts))
    hits = CapHits()
    cfg = GenerationConfig(max_new_tokens=12, n_samples=2, temperature=1.0, batch_size=4)
    generate(model, tok, prompts, cfg, cap_hits=hits)
    capped: list[bool] = []
    naive(model, tok, prompts, cfg, capped=capped)
    assert hits.completions == len(capped) == 2 * len(prompts)
    assert hits.capped == sum(capped) and 0 < hits.capped < hits.completions


def test_batch_decode_equals_the_tokenizers_own(
    model_tok: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, tok = model_tok
    rows = [list(range(i, i + 9)) for i in range(0, 240, 7)] + [[tok.eos_token_id, 5], []]
    want = tok.batch_decode(rows, skip_special_tokens=True)
    own: list[int] = []
    slow = tok.batch_decode
    monkeypatch.setattr(tok, "batch_decode", lambda r, **k: own.append(1) or slow(r, **k))
    assert batch_decode(tok, rows) == want and own == []  # one call of the Rust backend
    monkeypatch.setattr(tok, "clean_up_tokenization_spaces", True)  # decoding does more
    assert batch_decode(tok, rows) == want and own == [1]  # the tokenizer's own path
