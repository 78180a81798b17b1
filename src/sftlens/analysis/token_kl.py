"""Token-level analysis: how far the tuned model's first answer token moved from the base model.

For each fact, both models read their own prompt (see ``analysis/prompts.py``) followed by the
teacher-forced answer `` {answer}``.  One forward pass per model and batch gives

- the next-token distribution after the prompt (the first answer token), from which
  ``kl_top10`` (the paper's measure), ``kl_full_fwd`` = KL(tuned || base),
  ``kl_full_rev`` = KL(base || tuned) and the base model's rank of the tuned top-1 token;
- the answer's log-probability under each model; ``logprob_shift`` = tuned − base.

Batches are processed and reduced one at a time: only ``[batch, answer_len, vocab]`` logits
live at once, never logits for the whole set.

Example::

    result = token_kl(base, tuned, tok, facts, relations, levels, mastery_rows, TokenKLConfig())
    print(result.table())
"""

from __future__ import annotations

import inspect
import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from tqdm.auto import tqdm

from sftlens.analysis.config import TokenKLConfig
from sftlens.analysis.divergence import full_kl, rank_of, topk_kl
from sftlens.analysis.prompts import kl_prompts
from sftlens.data.records import Fact, Relation
from sftlens.errors import SftlensError
from sftlens.probing import check_covered

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

MEAN_KEYS = ("kl_top10", "kl_full_fwd", "kl_full_rev", "logprob_shift")
CPU_BATCH, GPU_BATCH = 32, 256  # facts per forward pass when batch_size is None


@dataclass
class KLResult:
    """Per-fact values and per-test-level means (``n`` and the means of :data:`MEAN_KEYS`)."""

    per_fact: list[dict[str, Any]]
    summary: list[dict[str, Any]]

    def table(self) -> str:
        """Plain-text table of the per-level summary."""
        head = f"{'level':>5}{'n':>7}{'kl_top10':>11}{'kl_fwd':>10}{'kl_rev':>10}{'dlogp':>9}{'top1=':>7}"
        lines = ["first-answer-token divergence, tuned vs base", head]
        for s in self.summary:
            lines.append(
                f"{s['test_level']:>5}{s['n']:>7}{s['kl_top10']:>11.4f}{s['kl_full_fwd']:>10.4f}"
                f"{s['kl_full_rev']:>10.4f}{s['logprob_shift']:>9.3f}{s['top1_agree']:>7.2f}"
            )
        return "\n".join(lines)


def check_same_vocab(base: PreTrainedModel, tuned: PreTrainedModel) -> None:
    """Both models must predict over the same vocabulary."""
    vb = base.get_output_embeddings().weight.shape[0]
    vt = tuned.get_output_embeddings().weight.shape[0]
    if vb != vt:
        raise SftlensError(
            f"base and tuned models have different vocabularies ({vb} vs {vt} tokens); token-kl needs one tokenizer"
        )


def check_same_tokenizer(base: PreTrainedTokenizerBase, tuned: PreTrainedTokenizerBase) -> None:
    """Refuse tokenizers whose vocabulary or merges differ (the token ids would not correspond)."""
    vb, vt = base.get_vocab(), tuned.get_vocab()
    if vb != vt:
        diff = len(set(vb.items()) ^ set(vt.items()))
        raise SftlensError(
            f"base and tuned tokenizers differ ({len(vb)} vs {len(vt)} tokens, {diff} id assignments differ); "
            "token-kl compares logits token by token and needs one tokenizer"
        )
    mb, mt = _merges(base), _merges(tuned)
    if mb != mt:
        raise SftlensError(
            "base and tuned tokenizers have the same vocabulary but different merges; token-kl needs one tokenizer"
        )


def _merges(tok: PreTrainedTokenizerBase) -> Any:
    import json

    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        return None
    return json.loads(backend.to_str()).get("model", {}).get("merges")


def _keep_kwargs(model: PreTrainedModel, n: int) -> dict[str, int]:
    """Ask the model for the last ``n`` positions' logits only, when it supports that."""
    params = inspect.signature(model.forward).parameters
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in params:
            return {name: n}
    return {}


def encode(
    tok: PreTrainedTokenizerBase, prompts: Sequence[str], answers: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Left-padded prompts followed by right-padded answers, so every prompt ends at column P-1.

    Returns ``ids [B, P+A]``, ``mask [B, P+A]``, ``answer ids [B, A]``, ``answer mask [B, A]``, ``P``.
    """
    p_ids = [tok(p, add_special_tokens=True)["input_ids"] for p in prompts]
    a_ids = [tok(" " + a, add_special_tokens=False)["input_ids"] for a in answers]
    if any(not a for a in a_ids):
        raise SftlensError("an answer tokenizes to no tokens")
    P, A = max(map(len, p_ids)), max(map(len, a_ids))
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    ids = torch.full((len(prompts), P + A), pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    ans = torch.full((len(prompts), A), pad, dtype=torch.long)
    for b, (p, a) in enumerate(zip(p_ids, a_ids, strict=True)):
        ids[b, P - len(p) : P] = torch.tensor(p)
        ids[b, P : P + len(a)] = torch.tensor(a)
        mask[b, P - len(p) : P + len(a)] = 1
        ans[b, : len(a)] = torch.tensor(a)
    return ids, mask, ans, mask[:, P:], P


@torch.inference_mode()
def answer_logits(
    model: PreTrainedModel, ids: torch.Tensor, mask: torch.Tensor, P: int
) -> torch.Tensor:
    """Logits at the positions that predict the answer tokens: ``[B, P+A] -> [B, A, V]``."""
    device = next(model.parameters()).device
    ids, mask = ids.to(device), mask.to(device)
    pos = (mask.cumsum(-1) - 1).clamp_min(0)  # [B, T]: positions restart after left padding
    A = ids.shape[1] - P
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=pos,
        use_cache=False,
        **_keep_kwargs(model, A + 1),
    )
    logits = out.logits  # [B, A+1, V] or [B, T, V]
    return logits[:, logits.shape[1] - (A + 1) : logits.shape[1] - 1, :]  # [B, A, V]


def answer_logprob(logits: torch.Tensor, ans: torch.Tensor, ans_mask: torch.Tensor) -> torch.Tensor:
    """Teacher-forced log-probability of each answer: ``[B, A, V], [B, A], [B, A] -> [B]``."""
    logits = logits.float()
    token = logits.gather(-1, ans.unsqueeze(-1)).squeeze(-1)  # [B, A]
    lp = token - torch.logsumexp(logits, dim=-1)  # [B, A]
    return (lp * ans_mask).sum(-1)  # [B]


def batch_measures(
    base_logits: torch.Tensor,
    tuned_logits: torch.Tensor,
    ans: torch.Tensor,
    ans_mask: torch.Tensor,
    k: int,
) -> dict[str, list[Any]]:
    """All per-fact measures of one batch from both models' answer logits ``[B, A, V]``."""
    ans, ans_mask = ans.to(base_logits.device), ans_mask.to(base_logits.device)
    tuned_logits = tuned_logits.to(base_logits.device)
    b0, t0 = base_logits[:, 0, :].float(), tuned_logits[:, 0, :].float()  # [B, V]
    t_top1 = t0.argmax(-1)  # [B]
    lp_base = answer_logprob(base_logits, ans, ans_mask)
    lp_tuned = answer_logprob(tuned_logits, ans, ans_mask)
    cols = {
        "kl_top10": topk_kl(t0, b0, k),
        "kl_full_fwd": full_kl(t0, b0),
        "kl_full_rev": full_kl(b0, t0),
        "logprob_base": lp_base,
        "logprob_tuned": lp_tuned,
        "logprob_shift": lp_tuned - lp_base,
        "tuned_top1": t_top1,
        "base_top1": b0.argmax(-1),
        "base_rank_of_tuned_top1": rank_of(b0, t_top1),
    }
    return {name: v.cpu().tolist() for name, v in cols.items()}


def select_kl_facts(
    facts: Sequence[Fact], levels: Mapping[str, int], cfg: TokenKLConfig
) -> list[Fact]:
    """Facts of ``cfg.domains`` whose level is in ``cfg.levels`` (``limit``: by the loader)."""
    check_covered([f for f in facts if f.domain in cfg.domains], levels, "levels")
    return [f for f in facts if f.domain in cfg.domains and levels[f.id] in cfg.levels]


def _measure_batch(
    models: tuple[PreTrainedModel, PreTrainedModel],
    tokenizer: PreTrainedTokenizerBase,
    prompts: tuple[list[str], list[str]],
    answers: list[str],
    top_k: int,
) -> dict[str, list[float]]:
    """The measures of one batch: (base, tuned) models on their (base, tuned) prompts."""
    b_ids, b_mask, ans, ans_mask, b_len = encode(tokenizer, prompts[0], answers)
    t_ids, t_mask, _, _, t_len = encode(tokenizer, prompts[1], answers)
    base_logits = answer_logits(models[0], b_ids, b_mask, b_len)
    tuned_logits = answer_logits(models[1], t_ids, t_mask, t_len)
    return batch_measures(base_logits, tuned_logits, ans, ans_mask, top_k)


def token_kl(
    base_model: PreTrainedModel,
    tuned_model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    facts: Sequence[Fact],
    relations: Mapping[str, Relation],
    levels: Mapping[str, int],
    mastery_rows: Sequence[Mapping[str, Any]],
    cfg: TokenKLConfig,
    progress: bool = True,
) -> KLResult:
    """Per-fact first-answer-token divergences between ``tuned_model`` and ``base_model``.

    Args:
        base_model, tuned_model: causal LMs over the same vocabulary (each on its device).
        tokenizer: their shared tokenizer.
        facts: candidate facts; those of ``cfg.domains`` with a level in ``cfg.levels`` are used.
        relations: statement templates (for ``statement`` prompts).
        levels: ``{fact id: level}`` from the base model's mastery table.
        mastery_rows: the base model's mastery rows (to pick each relation's best template).
        cfg: prompts (and the SFT prompt format of ``qa`` prompts), levels, top-k, batch size.
        progress: show a progress bar.
    """
    check_same_vocab(base_model, tuned_model)
    chosen = select_kl_facts(facts, levels, cfg)
    base_prompts, tuned_prompts = kl_prompts(chosen, relations, mastery_rows, cfg, tokenizer)
    order = sorted(range(len(chosen)), key=lambda i: len(base_prompts[i]) + len(chosen[i].object))
    rows: list[dict[str, Any] | None] = [None] * len(chosen)
    on_gpu = next(tuned_model.parameters()).device.type == "cuda"
    batch = cfg.batch_size or (GPU_BATCH if on_gpu else CPU_BATCH)
    starts = range(0, len(order), batch)
    bar = tqdm(total=len(order), desc="token-kl", unit="fact", disable=not progress or None)
    for start in starts:
        idx = order[start : start + batch]
        prompts = ([base_prompts[i] for i in idx], [tuned_prompts[i] for i in idx])
        answers = [chosen[i].object for i in idx]
        measures = _measure_batch((base_model, tuned_model), tokenizer, prompts, answers, cfg.top_k)
        for j, i in enumerate(idx):
            f = chosen[i]
            rows[i] = {
                "id": f.id, "relation": f.relation, "domain": f.domain, "level": int(levels[f.id]),
                "base_prompt": base_prompts[i], "tuned_prompt": tuned_prompts[i], "answer": f.object,
                **{name: values[j] for name, values in measures.items()},
            }  # fmt: skip
        bar.update(len(idx))
    bar.close()
    per_fact = [r for r in rows if r is not None]
    return KLResult(per_fact, summarize_kl(per_fact, cfg.levels))


def summarize_kl(
    per_fact: Sequence[Mapping[str, Any]], levels: Sequence[int]
) -> list[dict[str, Any]]:
    """Per test level: ``n``, the means of :data:`MEAN_KEYS`, the median base rank and top-1 agreement."""
    out = []
    for lv in levels:
        rows = [r for r in per_fact if r["level"] == lv]
        means = {k: statistics.fmean(r[k] for r in rows) if rows else math.nan for k in MEAN_KEYS}
        ranks = [r["base_rank_of_tuned_top1"] for r in rows]
        out.append(
            {
                "test_level": lv,
                "n": len(rows),
                **means,
                "base_rank_median": statistics.median(ranks) if ranks else math.nan,
                "top1_agree": sum(r == 1 for r in ranks) / len(ranks) if ranks else math.nan,
            }
        )
    return out
