"""Fixtures for restoration tests (helpers live in restoration_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from restoration_fixtures import perturb, save_dir, tiny_state


@pytest.fixture
def pair_dirs(
    tmp_path: Path,
) -> tuple[Path, Path, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    base = tiny_state(seed=0)
    tuned = perturb(base, seed=1)
    return (
        save_dir(base, tmp_path / "base"),
        save_dir(tuned, tmp_path / "tuned", shards=2),
        base,
        tuned,
    )
