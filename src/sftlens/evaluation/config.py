"""Config of the CBQA evaluation stage (no torch import here).

Example::

    sftlens evaluate --model runs/ft/model --data world:runs/world --mastery runs/probe/mastery.parquet \
        --out runs/eval matching=dpr limit=200
"""

from __future__ import annotations

from sftlens.config import DomainChoice, FactSelectionConfig, PositiveInt
from sftlens.newline_rule import DEFAULT_ANSWER_SPAN, AnswerSpan
from sftlens.prompts import DEFAULT_FORMAT, PromptFormatName


class EvaluateSettings(DomainChoice):
    """How a model is scored: the evaluation settings that name no model, data or device.

    Attributes:
        prompt_format: the ``sftlens.prompts`` format the model was fine-tuned on
            (``paper``: ``<|question|> q <|answer|>``; ``chat``: the tokenizer's template).
        matching: answer-matching mode of the data layer (``contains`` is the paper's).
        max_new_tokens: greedy decoding length (paper: 16; an instruct or chat model
            answering in full sentences may need 64).
        answer_span: which text of a completion is scored (``sftlens.newline_rule``):
            ``first_line`` (the paper's rule: up to the first newline after answer text,
            leading newlines skipped) or ``full`` (opt-in, for full-sentence chat answers:
            generation ends only at EOS or ``max_new_tokens``, the whole completion is scored).
        batch_size: generation batch size; ``None`` lets the engine choose.
        min_per_level: a level with fewer questions is flagged (``low_n``), and so is the
            macro over it; the summary warns.
        fuse_norms: run the model's RMS norms compiled (``GenerationConfig.fuse_norms``;
            opt-in: logits move in their last bits, so a near-tied greedy token may differ).
        domains: which domains to evaluate (``in``, ``ood``).
    """

    prompt_format: PromptFormatName = DEFAULT_FORMAT
    matching: str = "contains"
    max_new_tokens: PositiveInt = 16
    answer_span: AnswerSpan = DEFAULT_ANSWER_SPAN
    batch_size: PositiveInt | None = None
    min_per_level: PositiveInt = 20
    fuse_norms: bool = False


class EvaluateConfig(FactSelectionConfig, EvaluateSettings):
    """Closed-book QA evaluation of one model against the base model's mastery levels.

    Attributes:
        model: HF hub id or local checkpoint dir of the model to evaluate.
        data: data spec (``entityquestions:DIR``, ``world:DIR``, ``jsonl:PATH``).
        split_preset: which relations are in-domain / out-of-domain.
        mastery: the BASE model's ``mastery.parquet`` (test facts take their level from it);
            unset: accuracy per domain and relation only (no levels, no macro).
        split: which split of the data to evaluate.
        device: ``auto | cpu | cuda[:N]``.
        dtype: ``auto | float32 | bfloat16 | float16``.
    """

    model: str | None = None
