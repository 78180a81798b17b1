"""Train the world's BPE tokenizer with ``tokenizers`` and wrap it for transformers.

Example::

    tok = train_tokenizer(lines, vocab_size=2000)
    tok("<|question|> Where was Kalo Renvi born? <|answer|>").input_ids  # starts with <s>

Byte-level BPE; ``\\n`` is always its own token (split before byte-level pre-tokenizing);
``<|question|>`` and ``<|answer|>`` are added tokens; every encoding starts with ``<s>``
(a template post-processor), like Llama tokenizers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sftlens.prompts import ANSWER_TOKEN, QUESTION_TOKEN
from sftlens.world.corpus import EOS_TEXT

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SPECIALS = ("<unk>", "<s>", EOS_TEXT, "<pad>")


def train_tokenizer(lines: Sequence[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``lines`` (deterministic for the same lines)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex("\n"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    clean = (
        line.replace(EOS_TEXT, "").replace(QUESTION_TOKEN, "").replace(ANSWER_TOKEN, "")
        for line in lines
    )
    tok.train_from_iterator(clean, trainer=trainer)
    tok.add_special_tokens([QUESTION_TOKEN, ANSWER_TOKEN])
    bos_id = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos_id)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token=EOS_TEXT,
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=[QUESTION_TOKEN, ANSWER_TOKEN],
    )
    fast.model_max_length = 1 << 30
    return fast


def newline_id(tok: PreTrainedTokenizerFast) -> int:
    """The id of the newline token (one token by construction)."""
    ids = tok("\n", add_special_tokens=False).input_ids
    if len(ids) != 1:
        raise ValueError(f"newline encodes to {ids}, expected one token")
    return int(ids[0])
