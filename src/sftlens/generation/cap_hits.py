"""How many completions ran into ``max_new_tokens``: a count the engine fills, and its warning.

A completion *hits the cap* when it reaches ``max_new_tokens`` without EOS and (under the
``first_line`` answer span) without the newline that ends its answer.  Its answer may then be
cut short or never begin, as when an instruct model answers in a full sentence or opens with a
preamble line.  ``generate(..., cap_hits=hits)`` adds each batch's completions to ``hits``;
:meth:`CapHits.warning` is the one line a stage logs when more than a quarter hit the cap.

Example::

    hits = CapHits()
    generate(model, tok, prompts, cfg, cap_hits=hits)
    if (line := hits.warning(cfg.max_new_tokens, "evaluate", cfg.answer_span)):
        log.warning(line)
    hits.share   # e.g. 0.95
"""

from __future__ import annotations

from dataclasses import dataclass

#: above this share of capped completions a stage warns (once)
WARN_SHARE = 0.25
#: the longer cap suggested for full-sentence answers
SUGGESTED_MAX_NEW_TOKENS = 64


@dataclass
class CapHits:
    """Completions generated and how many of them hit ``max_new_tokens`` (a running count)."""

    completions: int = 0
    capped: int = 0

    def add(self, capped: list[bool]) -> None:
        """Count one batch: a flag per completion, ``True`` when it hit the cap."""
        self.completions += len(capped)
        self.capped += sum(capped)

    @property
    def share(self) -> float:
        """The share of completions that hit the cap (0.0 before any)."""
        return self.capped / self.completions if self.completions else 0.0

    def warning(self, max_new_tokens: int, section: str, answer_span: str) -> str | None:
        """One line when more than :data:`WARN_SHARE` hit the cap, else ``None``.

        ``section``: the stage's key (``evaluate``, ``probe``), named in the suggested settings;
        ``answer_span``: the completions' span (``full`` is not suggested again).
        """
        if self.share <= WARN_SHARE:
            return None
        keys = [f"max_new_tokens={SUGGESTED_MAX_NEW_TOKENS}"]
        if answer_span != "full":
            keys.append("answer_span=full")
        return (
            f"{self.share:.0%} of the {section} completions ({self.capped}/{self.completions}) "
            f"hit max_new_tokens={max_new_tokens} before EOS or the answer's end; for an "
            f"instruct or chat model answering in full sentences set {' '.join(keys)} "
            f"(in a study: {' '.join(f'{section}.{k}' for k in keys)})"
        )
