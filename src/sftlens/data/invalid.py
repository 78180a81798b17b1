"""Bad-input bookkeeping shared by the data sources: raise, or skip and count.

Without ``skip_invalid`` the first bad row raises a one-line :class:`DataError`
naming ``file:line`` (or the record id); with it, rows are skipped, counted and
logged, and the count ends up on ``Dataset.n_skipped``.

Example::

    python -m sftlens.data jsonl:my_facts.jsonl --skip-invalid
"""

from __future__ import annotations

import logging

from sftlens.errors import DataError

log = logging.getLogger(__name__)

MAX_KEPT = 50


class Problems:
    """Collects invalid rows; raises on the first unless ``skip`` is set."""

    def __init__(self, skip: bool) -> None:
        self.skip = skip
        self.count = 0
        self.messages: list[str] = []

    def report(self, where: str, message: str, n: int = 1) -> None:
        """Flag ``n`` bad rows at ``where`` (``file:line`` or record id)."""
        text = f"{where}: {message}"
        if not self.skip:
            raise DataError(text)
        self.count += n
        if len(self.messages) < MAX_KEPT:
            self.messages.append(text)
        log.debug("skipped invalid input: %s", text)

    def log_summary(self, spec: str) -> None:
        if self.count:
            log.warning(
                "%s: skipped %d invalid record(s); first: %s", spec, self.count, self.messages[0]
            )
