"""Config of ``sftlens probe`` (knowledge-mastery probing); no torch import.

Example::

    sftlens probe --model runs/world/model --data world:runs/world --out runs/probe samples=5 scheme=slick
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sftlens.config import (
    DataOptions,
    NonNegFloat,
    NonNegInt,
    PositiveFloat,
    PositiveInt,
    Seed,
    StageConfig,
)
from sftlens.newline_rule import AnswerSpan


class SlickConfig(StageConfig):
    """SliCK (Gekhman et al. 2024): greedy and sampled answers under few-shot exemplar sets.

    Attributes:
        exemplar_sets: exemplar sets per fact (P_correct averages over them).
        shots: exemplars per set (from the same relation's dev split).
        samples: sampled answers per set for P_correct(T > 0).
        temperature: sampling temperature for P_correct(T > 0).
        top_k: top-k for the sampled answers.
    """

    exemplar_sets: PositiveInt = 10
    shots: NonNegInt = 4
    samples: PositiveInt = 16
    temperature: PositiveFloat = 0.5
    top_k: NonNegInt = 40


class ProbeSettings(StageConfig):
    """How to probe each fact: the probe's settings that do not name a model or data.

    Defaults are the paper's: every statement template of the fact's relation,
    10 samples at temperature 0.7, at most 32 new tokens, ``contains`` matching.

    Attributes:
        splits: splits to probe (``None`` = all).
        domains: domains to probe (``in``, ``ood``; ``None`` = both).
        scheme: ``paper`` (R over templates x samples) or ``slick``.
        templates: use the first n statement templates per relation (``None`` = all).
        samples: completions per template.
        temperature / top_p / top_k / max_new_tokens: sampling.
        answer_span: which text of a completion is matched (``sftlens.newline_rule``), unset
            the scheme's (``paper``: ``full``, ``slick``: ``first_line``).  ``first_line``
            ends each completion at the first newline after its answer text (leading
            newlines skipped); ``full`` ends it only at EOS or ``max_new_tokens`` and matches
            the whole completion (the paper's protocol).  SliCK's few-shot prompts continue
            with the next exemplar on a new line; knowledge worlds (one statement per line)
            set ``first_line`` explicitly.
        matching: answer matching mode (``contains``, ``dpr``, ``entityquestions``, ``words``, ``exact``).
        greedy: quick mode: 1 greedy completion per template.
        seed: sampling seed (a completion depends on seed, prompt and sample index only).
        batch_size: sequences decoded at once (``None`` = from free memory).
        chunk_size: facts per resumable chunk.
        save_completions: also store the raw completions in the mastery table.
        fuse_norms: run the model's RMS norms compiled (``GenerationConfig.fuse_norms``;
            opt-in: logits move in their last bits, so a near-tied draw may differ).
        slick: SliCK settings.
    """

    splits: list[Literal["train", "dev", "test"]] | None = None
    domains: list[Literal["in", "ood"]] | None = None
    scheme: str = "paper"
    templates: PositiveInt | None = None
    samples: PositiveInt = 10
    temperature: NonNegFloat = 0.7
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: NonNegInt = 0
    max_new_tokens: PositiveInt = 32
    answer_span: AnswerSpan | None = None
    matching: str = "contains"
    greedy: bool = False
    seed: Seed = 0
    batch_size: PositiveInt | None = None
    chunk_size: PositiveInt = 2000
    save_completions: bool = False
    fuse_norms: bool = False
    slick: SlickConfig = Field(default_factory=SlickConfig)  # type: ignore[arg-type]

    @classmethod
    def refused_key(cls, key: str) -> str | None:
        if key == "stop_at_newline":
            return "is answer_span here: first_line (a newline ends the answer) or full"
        return super().refused_key(key)

    def span(self) -> str:
        """The answer span of the completions (explicit, else the scheme's rule)."""
        if self.answer_span is not None:
            return self.answer_span
        return "first_line" if self.scheme == "slick" else "full"


class ProbeConfig(DataOptions, ProbeSettings):
    """How to probe a model's knowledge of each fact (:class:`ProbeSettings` plus the model,
    the data and where it runs).

    Attributes:
        model: HF hub id or local checkpoint dir.
        data: data spec (``entityquestions:DIR``, ``world:DIR``, ``jsonl:PATH``).
        split_preset: in-domain / OOD assignment.
        backend: ``hf`` (sftlens engine) or ``vllm``.
        device / dtype: where and how to load the model.
        relations / aliases / limit: see :class:`sftlens.config.DataOptions` (``limit``: the
            first n facts per relation and split, the same facts in every stage).
    """

    model: str
    data: str
    split_preset: str = "paper-2025"
    backend: Literal["hf", "vllm"] = "hf"
    device: str = "auto"
    dtype: str = "auto"
