"""The SFT / evaluation prompt formats: one owner for the text every stage puts before an answer.

A format turns a question into the prompt text that generation and the token-level analysis
feed the model (``prompt``), and a question/answer pair into the prompt and target token ids
that fine-tuning trains on (``encode``).  ``tok(fmt.prompt(tok, q), add_special_tokens=True)``
gives exactly the prompt ids of ``fmt.encode(tok, q, a)``, so a model is scored on the prompt
it was trained on.

- ``paper``: ``<|question|> {question} <|answer|>``, target `` {answer}`` + EOS (Ye et al.).
- ``chat``: the tokenizer's chat template (user turn + generation prompt), target = the
  assistant turn that the template renders after it.

Example::

    fmt = PROMPT_FORMATS.get("paper")
    fmt.prompt(tok, "Where was Alice born?")   # '<|question|> Where was Alice born? <|answer|>'
    prompt_ids, target_ids = fmt.encode(tok, "Where was Alice born?", "Paris")
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Protocol

from pydantic import AfterValidator

from sftlens.errors import ConfigError
from sftlens.newline_rule import DEFAULT_ANSWER_SPAN
from sftlens.registry import Registry, suggest

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

QUESTION_TOKEN = "<|question|>"
ANSWER_TOKEN = "<|answer|>"
QA_TEMPLATE = f"{QUESTION_TOKEN} {{question}} {ANSWER_TOKEN}"
DEFAULT_FORMAT = "paper"
log = logging.getLogger(__name__)
_NOTED: set[str] = set()  # tokenizers already told about their chat template
_SPAN_NOTED: set[str] = set()  # chat formats already told about the answer span


def note_chat_template(tok: PreTrainedTokenizerBase | None) -> None:
    """Say once per tokenizer that it has a chat template the paper's format does not use."""
    if tok is None or not getattr(tok, "chat_template", None):
        return
    name = str(getattr(tok, "name_or_path", "") or id(tok))
    if name in _NOTED:
        return
    _NOTED.add(name)
    log.info(
        "the tokenizer of %s has a chat template, and the prompts use the paper's format "
        "'%s'; for an instruct or chat model pass prompt_format=chat",
        name,
        QA_TEMPLATE.replace("{question}", "…"),
    )


def note_answer_span(prompt_format: str, answer_span: str) -> None:
    """Say once that a chat format scored by the paper's first-line rule may cut answers short."""
    if answer_span != DEFAULT_ANSWER_SPAN or prompt_format in _SPAN_NOTED:
        return
    if not PROMPT_FORMATS.get(prompt_format).needs_chat_template:
        return
    _SPAN_NOTED.add(prompt_format)
    log.info(
        "prompt_format=%s with the paper's answer_span=first_line: the answer is the first "
        "line, cut at max_new_tokens; for full-sentence answers (or a preamble line before "
        "the answer) pass answer_span=full and a larger max_new_tokens, e.g. 64 (in a study: "
        "evaluate.answer_span=full evaluate.max_new_tokens=64)",
        prompt_format,
    )


class PromptFormat(Protocol):
    """How a question (and its answer) is put to a model."""

    @property
    def name(self) -> str: ...

    @property
    def needs_chat_template(self) -> bool:
        """Whether the format needs the tokenizer's chat template (``chat`` does)."""
        ...

    def prompt(self, tok: PreTrainedTokenizerBase | None, question: str) -> str: ...

    def encode(
        self, tok: PreTrainedTokenizerBase, question: str, answer: str
    ) -> tuple[list[int], list[int]]: ...

    def check(self, tok: PreTrainedTokenizerBase) -> None: ...


PROMPT_FORMATS = Registry[PromptFormat]("prompt format")


def _ids(tok: PreTrainedTokenizerBase, text: str, special: bool) -> list[int]:
    return list(tok(text, add_special_tokens=special)["input_ids"])


def qa_prompt(question: str) -> str:
    """The paper's QA prompt for ``question``; the answer follows as `` {answer}``."""
    return QA_TEMPLATE.replace("{question}", question)


def qa_text(question: str, answer: str, eos: str = "") -> str:
    """A whole paper-format Q/A line: prompt, `` {answer}`` and ``eos`` (text form)."""
    return f"{qa_prompt(question)} {answer}{eos}"


@dataclass(frozen=True)
class PaperFormat:
    """``<|question|> {question} <|answer|>`` then `` {answer}`` + EOS; loss on the target."""

    name: str = "paper"
    needs_chat_template: bool = False

    def prompt(self, tok: PreTrainedTokenizerBase | None, question: str) -> str:
        note_chat_template(tok)
        return qa_prompt(question)

    def check(self, tok: PreTrainedTokenizerBase) -> None:
        if tok.eos_token_id is None:
            raise ConfigError("the tokenizer has no EOS token to end the target")
        note_chat_template(tok)

    def encode(
        self, tok: PreTrainedTokenizerBase, question: str, answer: str
    ) -> tuple[list[int], list[int]]:
        self.check(tok)
        prompt = _ids(tok, qa_prompt(question), special=True)
        target = [*_ids(tok, " " + answer, special=False), int(tok.eos_token_id)]
        return prompt, target


@dataclass(frozen=True)
class ChatFormat:
    """The tokenizer's chat template: user turn + generation prompt, target = assistant turn."""

    name: str = "chat"
    needs_chat_template: bool = True

    def check(self, tok: PreTrainedTokenizerBase) -> None:
        if not getattr(tok, "chat_template", None):
            raise ConfigError("prompt_format 'chat' but the tokenizer has no chat template")

    def _rendered(self, tok: PreTrainedTokenizerBase, question: str) -> str:
        user = [{"role": "user", "content": question}]
        return str(tok.apply_chat_template(user, add_generation_prompt=True, tokenize=False))

    def prompt(self, tok: PreTrainedTokenizerBase | None, question: str) -> str:
        """The rendered user turn, without a leading BOS that the tokenizer adds itself."""
        if tok is None:
            raise ConfigError("prompt_format 'chat' needs the model's tokenizer")
        self.check(tok)
        text = self._rendered(tok, question)
        bos = tok.bos_token
        if bos and text.startswith(bos) and _ids(tok, "x", special=True)[:1] == [tok.bos_token_id]:
            text = text[len(bos) :]
        return text

    def encode(
        self, tok: PreTrainedTokenizerBase, question: str, answer: str
    ) -> tuple[list[int], list[int]]:
        self.check(tok)
        user = [{"role": "user", "content": question}]
        full = tok.apply_chat_template(
            [*user, {"role": "assistant", "content": answer}], tokenize=False
        )
        p_raw = _ids(tok, self._rendered(tok, question), special=False)
        f_raw = _ids(tok, str(full), special=False)
        if f_raw[: len(p_raw)] != p_raw or len(f_raw) <= len(p_raw):
            raise ConfigError(
                "the tokenizer's chat template does not extend the prompt with the answer"
            )
        return _ids(tok, self.prompt(tok, question), special=True), f_raw[len(p_raw) :]


PROMPT_FORMATS.add("paper", PaperFormat())
PROMPT_FORMATS.add("chat", ChatFormat())


def get_format(name: str) -> PromptFormat:
    """The registered format ``name`` (did-you-mean error otherwise)."""
    return PROMPT_FORMATS.get(name)


def _known_format(name: str) -> str:
    if name not in PROMPT_FORMATS:
        raise ValueError(f"unknown prompt format '{name}'{suggest(name, PROMPT_FORMATS.names())}")
    return name


#: a config field holding a registered prompt format's name
PromptFormatName = Annotated[str, AfterValidator(_known_format)]
