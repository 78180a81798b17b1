"""Configs of ``sftlens world build`` and ``sftlens world check`` (no torch import here).

Example::

    sftlens world build --preset tiny --out runs/world --seed 0 layers=3 epochs=40

A preset (``micro``, ``tiny``, ``small``, ``gpu``; see :mod:`sftlens.world.presets`) fills
every knob; any knob set here overrides the preset's value.
"""

from __future__ import annotations

from pydantic import Field

from sftlens.config import FiniteFloat, Probability, Seed, StageConfig


class WorldConfig(StageConfig):
    """Build a knowledge world: preset + seed + optional overrides of preset knobs.

    Every knob below ``device`` is ``None`` by default: the preset's value.

    Attributes:
        preset: ``micro`` (tests) | ``tiny`` (demo, CPU) | ``small`` | ``gpu``.
        seed: the world's seed (same seed and knobs: the same facts and corpus; the same
            model unless ``compile`` is on without ``deterministic``, docs/world.md#reproducibility).
        device: ``auto | cpu | cuda[:N]`` for pretraining.
        relations: relation ids of the world (EntityQuestions property ids).
        facts_per_relation: facts generated per relation.
        answer_space: ``entityquestions`` (each relation's objects follow that relation's
            distinct-object ratio and top-object share in EntityQuestions) | ``uniform``
            (``object_pool`` objects per relation, drawn uniformly).
        object_pool: distinct objects per relation with ``answer_space=uniform``.
        qa_frac: share of subject entities whose facts also appear as QA text (pretrain-QA facts).
        qa_repeats: times each pretrain-QA fact appears as question/answer text.
        zero_frac: probability that a fact is never seen in pretraining.
        max_exposure: the most times a fact is seen (log-uniform count in 1..max_exposure).
        alias_frac: share of objects that also get an alias.
        filler_frac: filler sentences per statement line.
        test_frac: share of pool facts in the test split.
        dev_frac: share of pool facts in the dev split.
        syllables: syllables names are built from.
        vocab_size: tokenizer vocabulary size.
        hidden: model width.
        layers: decoder layers.
        heads: attention heads.
        intermediate: MLP width.
        epochs: pretraining passes over the corpus.
        batch_size: pretraining sequences per step.
        seq_len: pretraining sequence length in tokens.
        lr: pretraining peak learning rate.
        warmup_frac: share of pretraining steps with linear warm-up.
        weight_decay: pretraining AdamW weight decay.
        dtype: ``auto | float32 | bfloat16`` of pretraining.
        compile: ``torch.compile`` the model for pretraining (on CUDA two compiled builds
            of one seed differ in their weights; docs/world.md#reproducibility).
        threads: CPU threads of pretraining.
        deterministic: pretrain with deterministic kernels (``sftlens.determinism``: torch's
            deterministic algorithms and Inductor's deterministic mode), so that builds on
            CUDA, compiled ones too, can be bit-identical; slower, and a different model
            than a build without it (docs/world.md#reproducibility).
    """

    preset: str = "tiny"
    seed: Seed = 0
    device: str = "auto"

    # world generation (None = preset value)
    relations: list[str] | None = None
    facts_per_relation: int | None = Field(default=None, ge=1)
    answer_space: str | None = None  # entityquestions | uniform
    object_pool: int | None = Field(default=None, ge=2)
    qa_frac: float | None = Field(default=None, ge=0.0, lt=1.0)
    qa_repeats: int | None = Field(default=None, ge=1)
    zero_frac: float | None = Field(default=None, ge=0.0, le=1.0)
    max_exposure: int | None = Field(default=None, ge=1)
    alias_frac: float | None = Field(default=None, ge=0.0, le=1.0)
    filler_frac: float | None = Field(default=None, ge=0.0)
    test_frac: float | None = Field(default=None, ge=0.0, le=1.0)
    dev_frac: float | None = Field(default=None, ge=0.0, le=1.0)
    syllables: int | None = Field(default=None, ge=2)

    # tokenizer and model
    vocab_size: int | None = Field(default=None, ge=300)
    hidden: int | None = Field(default=None, ge=8)
    layers: int | None = Field(default=None, ge=1)
    heads: int | None = Field(default=None, ge=1)
    intermediate: int | None = Field(default=None, ge=8)

    # pretraining
    epochs: float | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, ge=1)
    seq_len: int | None = Field(default=None, ge=16)
    lr: float | None = Field(default=None, gt=0)
    warmup_frac: float | None = Field(default=None, ge=0.0, lt=1.0)
    weight_decay: float | None = Field(default=None, ge=0.0)
    dtype: str | None = None  # auto | float32 | bfloat16
    compile: bool | None = None
    threads: int | None = Field(default=None, ge=1)
    deterministic: bool = False


class WorldCheckConfig(StageConfig):
    """Check a built world: greedy completion accuracy vs exposure, and probe levels.

    Attributes:
        device: ``auto | cpu | cuda[:N]``.
        batch_size: sequences decoded at once.
        max_new_tokens: greedy completion length of a statement.
        probe: run the paper's sampled probe for the level coverage.
        samples: probe samples per template.
        temperature: probe sampling temperature.
        max_facts: check a seeded sample of this many pool facts (None = all).
        seed: seed of the sample and of the probe.
        qa_max_new_tokens: answer length of the SFT-format check.
        min_spearman: required Spearman(exposure, greedy accuracy).
        max_zero_over_chance: zero-exposure accuracy may exceed chance by at most this.
        min_high_accuracy: required accuracy of facts seen at least ``high_exposure`` times.
        high_exposure: exposures that count as well seen.
        min_level_share: required share of facts in each mastery level.
        max_sft_format_accuracy: the base model's macro accuracy in the SFT format may be at
            most this (the paper's regime).
        min_spearman_r: required Spearman(exposure, probe R); None: report only.
        min_answer_space_share: required share of relations whose distinct-object ratio and
            top-object share are both within 2x of EntityQuestions' same relation.
        min_heldout_qa_accuracy: required base accuracy in the held-out Q/A format (a format
            and wording not in the corpus) at ``high_exposure`` or more; None: report only.
    """

    device: str = "auto"
    batch_size: int = Field(default=256, ge=1)
    max_new_tokens: int = Field(default=12, ge=1)
    probe: bool = True  # run the paper's sampled probe for level coverage
    samples: int = Field(default=10, ge=1)
    temperature: float = Field(default=0.7, ge=0.0)
    max_facts: int | None = Field(default=None, ge=1)  # subsample pool facts (seeded) for speed
    seed: Seed = 0
    qa_max_new_tokens: int = Field(default=16, ge=1)  # SFT-format answers of the base model
    # requirements
    min_spearman: float = Field(default=0.6, ge=-1, le=1)
    max_zero_over_chance: FiniteFloat = 0.05
    min_high_accuracy: Probability = 0.8
    high_exposure: int = Field(default=10, ge=1)
    min_level_share: Probability = 0.05
    max_sft_format_accuracy: Probability = (
        0.05  # the paper's regime: the base model fails the SFT format
    )
    min_spearman_r: float | None = Field(
        default=0.7, ge=-1, le=1
    )  # Spearman(exposure, probe R); None: report only
    min_answer_space_share: Probability = 0.8
    min_heldout_qa_accuracy: Probability | None = None
