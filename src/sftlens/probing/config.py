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
        stop_at_newline: end each completion at the first newline after its answer text
            (leading newlines skipped: ``sftlens.newline_rule``).  ``None`` (default)
            = the scheme's rule: ``paper`` does not cut (the paper's protocol: up to
            ``max_new_tokens``, matched over the whole completion); ``slick`` cuts
            (its few-shot prompts continue with the next exemplar on a new line).
            Knowledge worlds (one statement per line) set it to ``true`` explicitly.
        matching: answer matching mode (``contains``, ``dpr``, ``entityquestions``, ``words``, ``exact``).
        greedy: quick mode: 1 greedy completion per template.
        seed: sampling seed (a completion depends on seed, prompt and sample index only).
        batch_size: sequences decoded at once (``None`` = from free memory).
        chunk_size: facts per resumable chunk.
        save_completions: also store the raw completions in the mastery table.
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
    stop_at_newline: bool | None = None
    matching: str = "contains"
    greedy: bool = False
    seed: Seed = 0
    batch_size: PositiveInt | None = None
    chunk_size: PositiveInt = 2000
    save_completions: bool = False
    slick: SlickConfig = Field(default_factory=SlickConfig)  # type: ignore[arg-type]

    def cuts_at_newline(self) -> bool:
        """Whether completions end at a newline (explicit, else the scheme's rule)."""
        if self.stop_at_newline is not None:
            return self.stop_at_newline
        return self.scheme == "slick"


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
