"""Where a completion ends: EOS, and the newline rule (``sftlens.newline_rule``) per token.

A row ends at EOS, or (with ``stop_at_newline``: the ``first_line`` answer span) at the first
newline after its answer text began: newlines and spaces before any answer text are skipped.
Under the ``full`` answer span no newline ends a row: only EOS (and the token cap).  Each vocabulary token
gets its :func:`sftlens.newline_rule.token_role` once per tokenizer (cached on the tokenizer
object).  A fast tokenizer decodes the whole vocabulary in one call of its Rust backend
(``decode_batch``, about 0.4-1.6 s for 262k tokens); others decode token by token through
``batch_decode``.  Special tokens (dropped when completions are decoded) hold no answer text.

Example::

    rule = stop_rule(tok, model, stop_at_newline=True)
    rule.cut([tok_nl, tok_paris, tok_nl, tok_x])   # [tok_nl, tok_paris, tok_nl]
    rule.end([tok_paris, tok_x])                   # None: no stop, the cap ended the row
    tables = rule.tables(vocab_size, device)       # what the engine reads per step
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from sftlens.newline_rule import token_role

_CACHE_ATTR = "_sftlens_token_roles"


@dataclass(frozen=True)
class TokenRoles:
    """Token ids by their part in the newline rule (one tokenizer's vocabulary).

    Attributes:
        newline: ids whose text holds a newline.
        ends: ids whose text holds a newline after a non-space character of its own.
        blank: ids with no answer text (whitespace only, or special tokens).
    """

    newline: tuple[int, ...]
    ends: tuple[int, ...]
    blank: tuple[int, ...]


def token_roles(tokenizer: Any) -> TokenRoles:
    """The :class:`TokenRoles` of ``tokenizer``'s vocabulary (computed once, cached)."""
    cached = getattr(tokenizer, _CACHE_ATTR, None)
    if isinstance(cached, TokenRoles):
        return cached
    special = _special_ids(tokenizer)
    texts = _token_texts(tokenizer)
    # only tokens with a newline or without non-space text need a closer look (a few hundred)
    odd = [i for i, text in enumerate(texts) if "\n" in text or not text or text.isspace()]
    newline, ends, blank = [], [], set(special)
    for i in odd:
        role = token_role(texts[i])
        if role.newline:
            newline.append(i)
        if role.ends and i not in special:
            ends.append(i)
        if not role.text:
            blank.add(i)
    roles = TokenRoles(tuple(newline), tuple(ends), tuple(sorted(blank)))
    with contextlib.suppress(AttributeError):  # a tokenizer refusing attributes: recompute
        setattr(tokenizer, _CACHE_ATTR, roles)
    return roles


def newline_ids(tokenizer: Any) -> list[int]:
    """Ids of every vocabulary token whose decoded text contains ``"\\n"`` (cached)."""
    return list(token_roles(tokenizer).newline)


def _special_ids(tokenizer: Any) -> set[int]:
    """Ids that decoding with ``skip_special_tokens=True`` drops."""
    ids = {int(i) for i in getattr(tokenizer, "all_special_ids", ())}
    added = getattr(tokenizer, "added_tokens_decoder", None) or {}
    ids.update(int(i) for i, tok in added.items() if getattr(tok, "special", False))
    return ids


def _token_texts(tokenizer: Any) -> list[str]:
    """The decoded text of every id ``0 .. len(tokenizer) - 1``, each decoded alone."""
    single = [[i] for i in range(len(tokenizer))]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and hasattr(backend, "decode_batch"):
        texts: list[str] = backend.decode_batch(single, skip_special_tokens=False)
        return texts
    return list(tokenizer.batch_decode(single, skip_special_tokens=False))


def eos_ids(tokenizer: Any, model: Any = None) -> list[int]:
    """EOS ids of the tokenizer and of the model's generation config (may be a list)."""
    found: set[int] = set()
    if tokenizer.eos_token_id is not None:
        found.add(int(tokenizer.eos_token_id))
    gen_cfg = getattr(model, "generation_config", None)
    extra = getattr(gen_cfg, "eos_token_id", None)
    if isinstance(extra, int):
        found.add(extra)
    elif isinstance(extra, (list, tuple)):
        found.update(int(e) for e in extra)
    return sorted(found)


def stop_ids(
    tokenizer: Any, model: Any, stop_at_newline: bool, ignore_eos: bool = False
) -> list[int]:
    """EOS ids and every newline token: the ids at which a row may end (a plain
    ``model.generate`` baseline stops at the first of them, leading newlines included)."""
    ids = set() if ignore_eos else set(eos_ids(tokenizer, model))
    if stop_at_newline:
        ids.update(newline_ids(tokenizer))
    return sorted(ids)


@dataclass(frozen=True)
class StopTables:
    """The rule as (V,) bool tensors on the engine's device, read once per decode step.

    ``ends``: the token ends its row (EOS, or a newline after its own text);
    ``newline``: ends a row whose answer has begun; ``text``: the answer has begun.
    """

    ends: torch.Tensor  # (V,) bool
    newline: torch.Tensor  # (V,) bool
    text: torch.Tensor  # (V,) bool


@dataclass(frozen=True)
class StopRule:
    """Where rows end for one (tokenizer, model, settings): EOS ids and the newline rule.

    ``newline``, ``ends`` are empty without ``stop_at_newline``; ``eos`` is empty with
    ``ignore_eos``.
    """

    eos: frozenset[int]
    newline: frozenset[int]
    ends: frozenset[int]
    blank: frozenset[int]

    def end(self, ids: list[int]) -> int | None:
        """How many of ``ids`` the row keeps when a stop ends it (through the token whose
        newline ends the answer, or before the first EOS); ``None``: no stop, the cap ends it."""
        begun = False
        for i, tid in enumerate(ids):
            if tid in self.ends or (begun and tid in self.newline):
                return i + 1
            if tid in self.eos:
                return i
            begun = begun or tid not in self.blank
        return None

    def cut(self, ids: list[int]) -> list[int]:
        """Ids up to the row's end: through the token whose newline ends the answer (its text
        before the newline counts), or before the first EOS."""
        end = self.end(ids)
        return ids if end is None else ids[:end]

    def tables(self, size: int, device: Any) -> StopTables:
        """(V,) tables for a vocabulary of ``size`` ids (ids past the tokenizer: answer text)."""

        def flags(ids: frozenset[int], value: bool = True) -> torch.Tensor:
            out = torch.full((size,), not value, dtype=torch.bool)
            out[sorted(i for i in ids if i < size)] = value
            return out.to(device)

        return StopTables(
            ends=flags(self.ends | self.eos),
            newline=flags(self.newline),
            text=flags(self.blank, False),
        )


def stop_rule(
    tokenizer: Any, model: Any, stop_at_newline: bool, ignore_eos: bool = False
) -> StopRule:
    """The :class:`StopRule` of a generation call."""
    eos = frozenset() if ignore_eos else frozenset(eos_ids(tokenizer, model))
    if not stop_at_newline:  # only EOS ends a row: no table of the vocabulary needed
        return StopRule(eos, frozenset(), frozenset(), frozenset())
    roles = token_roles(tokenizer)
    return StopRule(eos, frozenset(roles.newline), frozenset(roles.ends), frozenset(roles.blank))


def pad_id(tokenizer: Any) -> int:
    """The pad id; a tokenizer without one pads with EOS (or 0): padding is masked anyway."""
    for tid in (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id):
        if tid is not None:
            return int(tid)
    return 0
