"""A tokenizer that encodes a list of prompts once and answers every later call from memory.

The generation engine tokenises the prompts it is given on every call.  Evaluating several
models on the same questions (the restored models of a sweep) would tokenise the same list
again for each; wrapped in :class:`PromptEncodings`, the tokenizer encodes a given list of
prompts once.  Every other attribute and call goes to the wrapped tokenizer unchanged.

Example::

    tok = PromptEncodings(load_tokenizer("runs/ft/model"))
    for model in models:
        generate(model, tok, prompts, cfg)   # the prompts are tokenised on the first call only
"""

from __future__ import annotations

from typing import Any

_OWN = ("_tokenizer", "_memo")


class PromptEncodings:
    """Memoises ``tokenizer(list_of_texts, add_special_tokens=...)``; forwards all else.

    The memo holds one encoding per distinct (list, ``add_special_tokens``) it was asked
    for (a prepared evaluation asks for one); its results are shared, so callers must not
    mutate them (the engine copies the ids it reads).
    """

    def __init__(self, tokenizer: Any) -> None:
        object.__setattr__(self, "_tokenizer", tokenizer)
        object.__setattr__(self, "_memo", {})

    def __call__(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        if args or not isinstance(text, list) or set(kwargs) - {"add_special_tokens"}:
            return self._tokenizer(text, *args, **kwargs)
        key = (tuple(text), kwargs.get("add_special_tokens", True))
        found = self._memo.get(key)
        if found is None:
            found = self._tokenizer(text, **kwargs)
            self._memo[key] = found
        return found

    def __getattr__(self, name: str) -> Any:
        if name in _OWN:  # not set yet (copy, unpickling): never look it up on itself
            raise AttributeError(name)
        return getattr(self._tokenizer, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._tokenizer, name, value)  # e.g. the engine's per-tokenizer caches

    def __len__(self) -> int:
        return len(self._tokenizer)
