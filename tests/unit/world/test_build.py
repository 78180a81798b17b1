"""build_world: the deterministic setting wraps pretraining and is recorded in the manifest."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import sftlens.determinism
from sftlens.world.build import build_world
from sftlens.world.config import WorldConfig


@pytest.mark.parametrize("deterministic", [False, True])
def test_deterministic_setting_reaches_pretraining(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deterministic: bool
) -> None:
    seen: list[bool] = []
    real = sftlens.determinism.deterministic_kernels

    @contextlib.contextmanager
    def spy(enabled: bool = True) -> Iterator[None]:
        seen.append(enabled)
        with real(enabled):
            yield

    monkeypatch.setattr(sftlens.determinism, "deterministic_kernels", spy)
    cfg = WorldConfig(preset="micro", epochs=0.05, deterministic=deterministic, device="cpu")
    build_world(cfg, tmp_path / "w", progress=False)
    assert seen == [deterministic]
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert manifest["config"]["deterministic"] is deterministic
    assert "deterministic" not in manifest["spec"]  # a way of building, not a knob of the world
