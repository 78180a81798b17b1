"""Token-level analysis: how far the tuned model's first answer token moved from the base model.

For each fact, both models read their own prompt (see ``analysis/prompts.py``) followed by the
teacher-forced answer `` {answer}``.  One forward pass per model and batch gives

- the next-token distribution after the prompt (the first answer token), from which
  ``kl_top10`` (the paper's measure), ``kl_full_fwd`` = KL(tuned || base),
  ``kl_full_rev`` = KL(base || tuned) and the base model's rank of the tuned top-1 token;
- the answer's log-probability under each model; ``logprob_shift`` = tuned − base.

Batches are processed and reduced one at a time: only ``[batch, answer_len, vocab]`` logits
live at once, never logits for the whole set.  Several tuned models of one base share a
:class:`PreparedTokenKL`: facts chosen and prompts tokenised once, and with ``keep_base`` the
base model's forward pass run once (its ``[facts, vocab]`` first-answer-token logits kept).

Example::

    result = token_kl(base, tuned, tok, facts, relations, levels, mastery_rows, TokenKLConfig())
    print(result.table())
    prepared = prepare_token_kl(base, tok, facts, relations, levels, mastery_rows, cfg, keep_base=True)
    results = [prepared.run(model) for model in tuned_models]   # the base runs once
"""

from __future__ import annotations

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
from sftlens.analysis.forward import Encoded, answer_logits, answer_logprob, encode
from sftlens.analysis.prompts import kl_prompts
from sftlens.data.records import Fact, Relation
from sftlens.errors import SftlensError
from sftlens.probing import check_covered

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

MEAN_KEYS = ("kl_top10", "kl_full_fwd", "kl_full_rev", "logprob_shift")
CPU_BATCH, GPU_BATCH = 32, 256  # facts per forward pass when batch_size is None
# where a prepared run keeps the base model's first-answer-token logits: on the model's device up
# to KEEP_DEVICE_BYTES; beyond that, for a model on a GPU, in host memory up to KEEP_HOST_BYTES
# (copied back per batch: far cheaper than the base model's forward pass); beyond, recomputed
KEEP_DEVICE_BYTES = 512 * 2**20
KEEP_HOST_BYTES = 16 * 2**30


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


@dataclass(frozen=True)
class BaseOutputs:
    """What the measures need of the base model for one batch: ``first [B, V]``, its logits at
    the first answer token (in the model's dtype), and ``logprob [B]``, the answers'
    log-probabilities."""

    first: torch.Tensor
    logprob: torch.Tensor


def base_outputs(logits: torch.Tensor, batch: Encoded) -> BaseOutputs:
    """:class:`BaseOutputs` of the base model's answer logits ``[B, A, V]`` (``first`` is a copy,
    so the full logits can be freed)."""
    return BaseOutputs(
        logits[:, 0, :].clone(), answer_logprob(logits, batch.answer, batch.answer_mask)
    )


def batch_measures(
    base: BaseOutputs, tuned_logits: torch.Tensor, batch: Encoded, k: int
) -> dict[str, list[Any]]:
    """All per-fact measures of one batch from the base model's outputs and the tuned model's
    answer logits ``[B, A, V]``."""
    tuned_logits = tuned_logits.to(base.first.device)
    b0, t0 = base.first.float(), tuned_logits[:, 0, :].float()  # [B, V]
    t_top1 = t0.argmax(-1)  # [B]
    lp_tuned = answer_logprob(tuned_logits, batch.answer, batch.answer_mask)  # [B]
    cols = {
        "kl_top10": topk_kl(t0, b0, k),
        "kl_full_fwd": full_kl(t0, b0),
        "kl_full_rev": full_kl(b0, t0),
        "logprob_base": base.logprob,
        "logprob_tuned": lp_tuned,
        "logprob_shift": lp_tuned - base.logprob,
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


@dataclass(frozen=True)
class _Batch:
    """One batch of the plan: positions in its facts, and both models' prompts with the answers."""

    idx: list[int]
    base: Encoded
    tuned: Encoded


class PreparedTokenKL:
    """A token-KL run without its tuned model, built once by :func:`prepare_token_kl`: the
    chosen facts, both prompts of every fact tokenised in batches, and, with ``keep_base``, the
    base model's outputs from its first run, so that every further tuned model costs one forward
    pass of its own.  ``run(tuned)`` gives exactly what :func:`token_kl` gives for that model."""

    def __init__(
        self, base_model: PreTrainedModel, facts: list[Fact], levels: Mapping[str, int],
        prompts: tuple[list[str], list[str]], batches: list[_Batch], cfg: TokenKLConfig,
        keep_on: torch.device | None,
    ) -> None:  # fmt: skip
        self.base_model, self.facts, self.levels, self.prompts = base_model, facts, levels, prompts
        self.batches, self.cfg, self.keep_on = batches, cfg, keep_on
        self._base: dict[int, BaseOutputs] = {}

    @property
    def keep_base(self) -> bool:
        """Whether the base model's outputs are kept after its first run."""
        return self.keep_on is not None

    def base_for(self, i: int) -> BaseOutputs:
        """The base model's outputs of batch ``i`` on its device (computed once when kept)."""
        device = next(self.base_model.parameters()).device
        if i in self._base:
            kept = self._base[i]
            return BaseOutputs(kept.first.to(device), kept.logprob.to(device))
        batch = self.batches[i].base
        out = base_outputs(
            answer_logits(self.base_model, batch.ids, batch.mask, batch.prompt_len), batch
        )
        if self.keep_on is not None:
            self._base[i] = BaseOutputs(out.first.to(self.keep_on), out.logprob.to(self.keep_on))
        return out

    def run(self, tuned_model: PreTrainedModel, progress: bool = True) -> KLResult:
        """Per-fact first-answer-token divergences between ``tuned_model`` and the base model."""
        check_same_vocab(self.base_model, tuned_model)
        rows: list[dict[str, Any] | None] = [None] * len(self.facts)
        bar = tqdm(
            total=len(self.facts), desc="token-kl", unit="fact", disable=not progress or None
        )
        for i, batch in enumerate(self.batches):
            t = batch.tuned
            tuned_logits = answer_logits(tuned_model, t.ids, t.mask, t.prompt_len)  # [B, A, V]
            measures = batch_measures(self.base_for(i), tuned_logits, t, self.cfg.top_k)
            for j, k in enumerate(batch.idx):
                rows[k] = self._fact_row(k, {name: values[j] for name, values in measures.items()})
            bar.update(len(batch.idx))
        bar.close()
        per_fact = [r for r in rows if r is not None]
        return KLResult(per_fact, summarize_kl(per_fact, self.cfg.levels))

    def _fact_row(self, k: int, measures: dict[str, Any]) -> dict[str, Any]:
        f = self.facts[k]
        return {
            "id": f.id, "relation": f.relation, "domain": f.domain, "level": int(self.levels[f.id]),
            "base_prompt": self.prompts[0][k], "tuned_prompt": self.prompts[1][k], "answer": f.object,
            **measures,
        }  # fmt: skip


def prepare_token_kl(
    base_model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    facts: Sequence[Fact],
    relations: Mapping[str, Relation],
    levels: Mapping[str, int],
    mastery_rows: Sequence[Mapping[str, Any]],
    cfg: TokenKLConfig,
    keep_base: bool = False,
) -> PreparedTokenKL:
    """Choose the facts, build both prompts and tokenise them in batches (arguments as in
    :func:`token_kl`).  ``keep_base`` keeps the base model's first-answer-token logits of every
    fact after the first run (``facts × vocabulary`` values, where :func:`keep_location` puts
    them; where they do not fit, each run recomputes them batch by batch)."""
    chosen = select_kl_facts(facts, levels, cfg)
    base_prompts, tuned_prompts = kl_prompts(chosen, relations, mastery_rows, cfg, tokenizer)
    order = sorted(range(len(chosen)), key=lambda i: len(base_prompts[i]) + len(chosen[i].object))
    on_gpu = next(base_model.parameters()).device.type == "cuda"
    size = cfg.batch_size or (GPU_BATCH if on_gpu else CPU_BATCH)
    batches = []
    for start in range(0, len(order), size):
        idx = order[start : start + size]
        answers = [chosen[i].object for i in idx]
        batches.append(
            _Batch(
                idx,
                encode(tokenizer, [base_prompts[i] for i in idx], answers),
                encode(tokenizer, [tuned_prompts[i] for i in idx], answers),
            )
        )
    weights = base_model.get_output_embeddings().weight  # [V, H]
    size = len(chosen) * weights.shape[0] * weights.element_size()
    keep_on = keep_location(size, weights.device) if keep_base else None
    if keep_base and keep_on is None:
        log.info("token-kl: the base model's logits of %d facts (%.1f GiB) are not kept; each run "
                 "recomputes them", len(chosen), size / 2**30)  # fmt: skip
    prompts = (base_prompts, tuned_prompts)
    return PreparedTokenKL(base_model, chosen, levels, prompts, batches, cfg, keep_on)


def keep_location(size: int, device: torch.device) -> torch.device | None:
    """Where ``size`` bytes of kept base-model logits go: the model's ``device`` up to
    :data:`KEEP_DEVICE_BYTES`, host memory for a GPU model up to :data:`KEEP_HOST_BYTES`, else
    nowhere (None: recomputed each run)."""
    if size <= KEEP_DEVICE_BYTES:
        return device
    if device.type == "cuda" and size <= KEEP_HOST_BYTES:
        return torch.device("cpu")
    return None


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
    prepared = prepare_token_kl(base_model, tokenizer, facts, relations, levels, mastery_rows, cfg)
    return prepared.run(tuned_model, progress)


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
