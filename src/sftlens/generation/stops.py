"""Which token ids end a completion: EOS ids and every token whose text holds a newline.

Computed once per tokenizer and cached on the tokenizer object.  A fast tokenizer decodes
the whole vocabulary in one call of its Rust backend (``decode_batch``, about 0.4 s for
262k tokens); others decode token by token through ``batch_decode``.

Example::

    stops = stop_ids(tok, model, stop_at_newline=True)   # sorted list of ids
"""

from __future__ import annotations

import contextlib
from typing import Any

_CACHE_ATTR = "_sftlens_newline_ids"


def newline_ids(tokenizer: Any) -> list[int]:
    """Ids of every vocabulary token whose decoded text contains ``"\\n"`` (cached)."""
    cached = getattr(tokenizer, _CACHE_ATTR, None)
    if cached is not None:
        return list(cached)
    texts = _token_texts(tokenizer)
    found = [i for i, text in enumerate(texts) if "\n" in text]
    with contextlib.suppress(AttributeError):  # a tokenizer refusing attributes: recompute
        setattr(tokenizer, _CACHE_ATTR, tuple(found))
    return found


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
    """All ids that finish a row."""
    ids = set() if ignore_eos else set(eos_ids(tokenizer, model))
    if stop_at_newline:
        ids.update(newline_ids(tokenizer))
    return sorted(ids)


def pad_id(tokenizer: Any) -> int:
    """The pad id; a tokenizer without one pads with EOS (or 0): padding is masked anyway."""
    for tid in (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id):
        if tid is not None:
            return int(tid)
    return 0
