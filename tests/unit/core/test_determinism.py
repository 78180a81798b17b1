"""deterministic_kernels: torch's and Inductor's deterministic modes inside the block only."""

from __future__ import annotations

import importlib
import os

import pytest
import torch

from sftlens.determinism import CUBLAS_WORKSPACE, deterministic_kernels

inductor = importlib.import_module("torch._inductor.config")


def test_both_modes_are_on_inside_and_restored_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    assert not torch.are_deterministic_algorithms_enabled() and not inductor.deterministic
    with deterministic_kernels():
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
        assert inductor.deterministic

        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == CUBLAS_WORKSPACE
    assert not torch.are_deterministic_algorithms_enabled() and not inductor.deterministic


def test_restored_when_the_block_raises_and_off_when_disabled() -> None:
    with pytest.raises(RuntimeError, match="boom"), deterministic_kernels():
        raise RuntimeError("boom")
    assert not torch.are_deterministic_algorithms_enabled() and not inductor.deterministic
    with deterministic_kernels(False):
        assert not torch.are_deterministic_algorithms_enabled()


def test_a_users_settings_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with deterministic_kernels():
            assert not torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(False)

    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
