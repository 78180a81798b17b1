"""Closed-book QA evaluation of a loaded model: greedy answers through the shared engine.

Example::

    from sftlens.evaluation import EvaluateConfig, evaluate_model
    result = evaluate_model(model, tok, test_facts, levels, EvaluateConfig())
    print(result.summary())
    plan = prepare_evaluation(tok, test_facts, levels, EvaluateConfig())  # several models
    results = [plan.run(m) for m in models]
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sftlens.data.records import Fact
from sftlens.evaluation.config import EvaluateConfig
from sftlens.evaluation.encodings import PromptEncodings
from sftlens.evaluation.scoring import accuracy_rows, format_table, score_outputs, summarize
from sftlens.probing import check_covered
from sftlens.prompts import get_format, note_answer_span

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from sftlens.generation import GenerationConfig

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    """Metrics (``metrics.json``), one prediction row per question, and the study's accuracy rows."""

    metrics: dict[str, Any]
    predictions: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        text = format_table(self.metrics)
        if self.metrics.get("alias_table"):
            text += f"\nanswers matched with alias table: {self.metrics['alias_table']}"
        if self.seconds > 0 and self.predictions:
            text += f"\n{len(self.predictions)} questions in {self.seconds:.1f}s"
            text += f" ({len(self.predictions) / self.seconds:.1f} questions/s)"
        if self.files:
            text += "\n" + "\n".join(f"{k}: {v}" for k, v in self.files.items())
        return text


def select_facts(facts: Sequence[Fact], cfg: EvaluateConfig) -> list[Fact]:
    """The facts of ``cfg.domains``, in input order (``cfg.limit`` is applied by the loader)."""
    return [f for f in facts if f.domain in cfg.domains]


@dataclass(frozen=True)
class PreparedEvaluation:
    """An evaluation without its model, built once by :func:`prepare_evaluation`: the chosen
    facts, their prompts (tokenised on the first run, reused after), the matcher, how many
    questions contain their own answer and the generation settings.  ``run(model)`` evaluates
    one model on it; a sweep runs it on each of its restored models."""

    facts: list[Fact]
    prompts: list[str]
    levels: Mapping[str, int] | None
    cfg: EvaluateConfig
    matcher: Any
    gen: GenerationConfig
    tokenizer: Any  # a PromptEncodings over the model's tokenizer
    answer_in_question: dict[str, int]  # per domain (the same for every model)
    warned: set[str] = field(default_factory=set, compare=False)  # cap warning: once a plan

    def run(self, model: PreTrainedModel, progress: bool = False) -> EvalResult:
        """Answer the prepared questions greedily with ``model`` and score them; warn once
        (per plan) when more than a quarter of the answers hit ``max_new_tokens``."""
        from sftlens.generation import CapHits, generate

        start = time.perf_counter()
        hits = CapHits()
        outputs = (
            [
                c[0]
                for c in generate(
                    model, self.tokenizer, self.prompts, self.gen, progress, cap_hits=hits
                )
            ]
            if self.prompts
            else []
        )
        seconds = time.perf_counter() - start
        warning = hits.warning(self.gen.max_new_tokens, "evaluate", self.gen.answer_span)
        if warning and "cap" not in self.warned:
            self.warned.add("cap")
            log.warning(warning)
        preds = score_outputs(self.facts, self.prompts, outputs, self.levels, self.matcher)
        metrics = summarize(preds, self.cfg.domains, self.cfg.matching, self.cfg.min_per_level)
        metrics["answer_in_question"] = dict(self.answer_in_question)
        metrics["seconds"] = seconds
        metrics["answer_span"] = self.gen.answer_span
        metrics["cap_hit_share"] = hits.share
        log.info("evaluated %d questions in %.1fs", len(preds), seconds)
        rows = accuracy_rows(preds, self.cfg.domains, self.cfg.min_per_level)
        return EvalResult(metrics, preds, rows, seconds)


def answers_in_questions(facts: Sequence[Fact], domains: Sequence[str]) -> dict[str, int]:
    """Per domain, how many questions contain one of their accepted answers (pure)."""
    from sftlens.data import answer_in_text

    return {
        d: sum(f.domain == d and answer_in_text(f.accepted, f.question) for f in facts)
        for d in domains
    }


def prepare_evaluation(
    tokenizer: PreTrainedTokenizerBase,
    facts: Sequence[Fact],
    levels: Mapping[str, int] | None,
    cfg: EvaluateConfig,
) -> PreparedEvaluation:
    """Choose the facts of ``cfg.domains``, check their levels and format their prompts once,
    for evaluating several models (e.g. the restored models of a sweep) on the same questions.

    Raises:
        DataError: a fact has no level.
        SftlensError: an unknown matching mode.
    """
    from sftlens.data import get_matcher

    matcher = get_matcher(cfg.matching)
    chosen = select_facts(facts, cfg)
    if levels is not None:
        check_covered(chosen, levels, "levels")
    fmt = get_format(cfg.prompt_format)
    note_answer_span(cfg.prompt_format, cfg.answer_span)
    prompts = [fmt.prompt(tokenizer, f.question) for f in chosen]
    gen = generation_config(cfg)
    in_question = answers_in_questions(chosen, cfg.domains)
    return PreparedEvaluation(
        chosen, prompts, levels, cfg, matcher, gen, PromptEncodings(tokenizer), in_question
    )


def generation_config(cfg: EvaluateConfig) -> GenerationConfig:
    """The engine's settings of an evaluation: greedy, ``cfg``'s cap and answer span."""
    from sftlens.generation import GenerationConfig

    return GenerationConfig(
        max_new_tokens=cfg.max_new_tokens,
        temperature=0.0,
        answer_span=cfg.answer_span,
        batch_size=cfg.batch_size,
        fuse_norms=cfg.fuse_norms,
    )


def evaluate_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    facts: Sequence[Fact],
    levels: Mapping[str, int] | None,
    cfg: EvaluateConfig,
    progress: bool = True,
) -> EvalResult:
    """Answer each fact's question greedily and score it against the base model's levels.

    Args:
        model: the (fine-tuned) causal LM, already on its device.
        tokenizer: its tokenizer.
        facts: the test facts (filtered to ``cfg.domains`` here).
        levels: ``{fact id: level}`` from the BASE model's mastery table; None: accuracy
            per domain and relation only.
        cfg: prompt format (the one the model was fine-tuned on), matching mode, decoding
            length, batch size.
        progress: show a progress bar.

    Raises:
        DataError: a fact has no level.
        SftlensError: an unknown matching mode.
    """
    return prepare_evaluation(tokenizer, facts, levels, cfg).run(model, progress)
