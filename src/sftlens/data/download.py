"""Where ``entityquestions`` (no directory) comes from: the cache, or an opt-in download.

Without a directory, sftlens looks in ``$SFTLENS_CACHE/entityquestions`` (default
``~/.cache/sftlens/entityquestions``).  Only when ``SFTLENS_DOWNLOAD=1`` is set does
it fetch the official ``dataset.zip`` there, with a short timeout; otherwise it
fails at once with a message saying how to get the data.

Example::

    SFTLENS_DOWNLOAD=1 python -m sftlens.data entityquestions
"""

from __future__ import annotations

import logging
import os
import urllib.request
from pathlib import Path

from sftlens.errors import DataError
from sftlens.runstore import atomic_write_bytes

log = logging.getLogger(__name__)

URL = "https://nlp.cs.princeton.edu/projects/entity-questions/dataset.zip"
TIMEOUT_S = 15.0


def cache_dir() -> Path:
    root = os.environ.get("SFTLENS_CACHE") or Path.home() / ".cache" / "sftlens"
    return Path(root) / "entityquestions"


def locate_entityquestions(allow_download: bool | None = None, timeout: float = TIMEOUT_S) -> Path:
    """The cached EntityQuestions zip or directory, downloading it only if allowed."""
    cache = cache_dir()
    for cand in (cache / "dataset", cache / "dataset.zip"):
        if cand.exists():
            return cache
    if allow_download is None:
        allow_download = os.environ.get("SFTLENS_DOWNLOAD") == "1"
    if not allow_download:
        raise DataError(
            f"entityquestions needs a directory: use entityquestions:DIR with the unpacked "
            f"official dataset.zip ({URL}), or set SFTLENS_DOWNLOAD=1 to fetch it into {cache}"
        )
    log.info("downloading EntityQuestions from %s into %s", URL, cache)
    try:
        with urllib.request.urlopen(URL, timeout=timeout) as resp:
            data = resp.read()
    except OSError as err:
        raise DataError(
            f"entityquestions: download from {URL} failed ({err}); "
            "download dataset.zip yourself and use entityquestions:DIR"
        ) from None
    atomic_write_bytes(cache / "dataset.zip", data)
    return cache
