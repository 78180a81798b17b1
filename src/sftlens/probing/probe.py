"""``probe_facts``: the in-process probing API (used by the stage, the study and world check).

Example::

    from sftlens.probing import probe_facts, ProbeConfig
    rows = probe_facts(model, tok, ds.facts, ds.relations, ProbeConfig(model="m", data="world:W", samples=5))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sftlens.data import get_matcher, match_fact
from sftlens.data.records import Fact, Relation
from sftlens.generation import CapHits, GenerationConfig, generate
from sftlens.generation.generate import Progress
from sftlens.probing.config import ProbeConfig
from sftlens.probing.mastery import SCHEMES, score_paper, score_slick
from sftlens.probing.protocols import base_row, check_inputs, paper_prompts, slick_prompts

Matcher = Callable[[str, Sequence[str]], "str | None"]
log = logging.getLogger(__name__)


def complete(
    model: Any,
    tokenizer: Any,
    per_fact: list[list[str]],
    gen: GenerationConfig,
    progress: bool | Progress,
    cap_hits: CapHits | None = None,
) -> list[list[list[str]]]:
    """Completions per fact per prompt; each distinct prompt is generated once."""
    unique = list(dict.fromkeys(p for prompts in per_fact for p in prompts))
    completions = generate(model, tokenizer, unique, gen, progress, cap_hits)
    outs = dict(zip(unique, completions, strict=True))
    return [[outs[p] for p in prompts] for prompts in per_fact]


def expected_completions(
    facts: Sequence[Fact], relations: Mapping[str, Relation], cfg: ProbeConfig
) -> int:
    """How many completions probing ``facts`` takes (a progress bar's total; pure)."""
    if cfg.scheme == "slick":
        return len(facts) * cfg.slick.exemplar_sets * (1 + cfg.slick.samples)
    per_prompt = 1 if cfg.greedy else cfg.samples
    total = 0
    for fact in facts:
        n = len(relations[fact.relation].statement_templates)
        total += min(n, cfg.templates or n) * per_prompt
    return total


def count_correct(outputs: Sequence[Sequence[str]], fact: Fact, match: Matcher) -> list[int]:
    """Correct completions per prompt (an echo-aware matcher ignores the fact's subject)."""
    return [sum(match_fact(match, o, fact) is not None for o in outs) for outs in outputs]


def warn_cap_hits(hits: CapHits, cfg: ProbeConfig) -> None:
    """Log one line when more than a quarter of the completions hit ``max_new_tokens`` under
    the ``first_line`` span (under ``full``, the paper's, the cap is where a completion ends)."""
    if cfg.span() != "first_line":
        return
    if warning := hits.warning(cfg.max_new_tokens, "probe", cfg.span()):
        log.warning(warning)


def generation_config(cfg: ProbeConfig) -> GenerationConfig:
    """The paper scheme's sampling settings (quick mode: one greedy completion)."""
    return GenerationConfig(
        max_new_tokens=cfg.max_new_tokens,
        n_samples=1 if cfg.greedy else cfg.samples,
        temperature=0.0 if cfg.greedy else cfg.temperature,
        top_p=cfg.top_p,
        top_k=cfg.top_k,
        answer_span=cfg.span(),
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        backend=cfg.backend,
        fuse_norms=cfg.fuse_norms,
    )


def probe_facts(
    model: Any,
    tokenizer: Any,
    facts: Sequence[Fact],
    relations: Mapping[str, Relation],
    cfg: ProbeConfig,
    progress: bool | Progress = True,
    *,
    pool: Sequence[Fact] | None = None,
    cap_hits: CapHits | None = None,
) -> list[dict[str, Any]]:
    """Mastery rows (``id, relation, domain, split, scheme, n_correct, n_total, R, level,
    per_template_correct, exposure`` [+ ``completions``]) for ``facts``, in their order.

    Args:
        pool: facts to draw SliCK exemplars from (default ``facts``); pass the whole
            dataset when probing a chunk.
        cap_hits: counts the completions and those that hit ``max_new_tokens``.
    """
    scheme = SCHEMES.get(cfg.scheme)
    match = get_matcher(cfg.matching)
    check_inputs(facts, relations, cfg.templates if scheme.name == "paper" else None)
    if not facts:
        return []
    if scheme.name == "slick":
        return _probe_slick(model, tokenizer, facts, cfg, progress, pool or facts, match, cap_hits)
    gen = generation_config(cfg)
    prompts = paper_prompts(facts, relations, cfg.templates)
    outs = complete(model, tokenizer, prompts, gen, progress, cap_hits)
    rows = []
    for fact, fact_outs in zip(facts, outs, strict=True):
        per_template = count_correct(fact_outs, fact, match)
        row = {**base_row(fact, "paper"), **score_paper(per_template, gen.n_samples)}
        row["per_template_correct"] = per_template
        if cfg.save_completions:
            row["completions"] = fact_outs
        rows.append(row)
    return rows


def _probe_slick(
    model: Any,
    tokenizer: Any,
    facts: Sequence[Fact],
    cfg: ProbeConfig,
    progress: bool | Progress,
    pool: Sequence[Fact],
    match: Matcher,
    cap_hits: CapHits | None = None,
) -> list[dict[str, Any]]:
    prompts = slick_prompts(facts, pool, cfg)
    s = cfg.slick
    base: dict[str, Any] = {
        "max_new_tokens": cfg.max_new_tokens,
        "answer_span": cfg.span(),
        "batch_size": cfg.batch_size,
        "seed": cfg.seed,
        "backend": cfg.backend,
    }
    greedy = complete(model, tokenizer, prompts, GenerationConfig(**base), progress, cap_hits)
    sampled_cfg = GenerationConfig(
        **base, n_samples=s.samples, temperature=s.temperature, top_k=s.top_k
    )
    sampled = complete(model, tokenizer, prompts, sampled_cfg, progress, cap_hits)
    rows = []
    for fact, g_outs, s_outs in zip(facts, greedy, sampled, strict=True):
        g = count_correct(g_outs, fact, match)
        sm = count_correct(s_outs, fact, match)
        row = {**base_row(fact, "slick"), **score_slick(g, sm, s.samples)}
        row["per_template_correct"] = g
        row["sampled_correct"] = sm
        if cfg.save_completions:
            row["completions"] = [a + b for a, b in zip(g_outs, s_outs, strict=True)]
        rows.append(row)
    return rows
