"""sweep_inplace: restores like restore_checkpoint for every k, then undoes bit for bit, on the
streaming path and from flat buffers (``flat=True``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sftlens.restoration import (
    EngineSettings,
    RestoreStats,
    restore_many,
    source_from_dir,
    sweep_inplace,
)


def _tuned_copy(src: Path, dst: Path, tie: bool = False) -> tuple[Path, Path]:
    from transformers import AutoConfig, AutoModelForCausalLM

    if tie:
        cfg = AutoConfig.from_pretrained(src)
        cfg.tie_word_embeddings = True
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(cfg)
        src = dst / "base"
        model.save_pretrained(src)
    model = AutoModelForCausalLM.from_pretrained(src)
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        for p in model.parameters():
            p.mul_(1 + 0.05 * torch.randn(p.shape, generator=g))
    model.save_pretrained(dst / "tuned")
    return src, dst / "tuned"


def _state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.state_dict().items()}


@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize(
    ("strategy", "region", "tie"), [("top", "transformer", False), ("random", "all", True)]
)
def test_sweep_matches_checkpoints_and_undoes(
    tiny_llama_dir, tmp_path, strategy, region, tie, flat
) -> None:
    from transformers import AutoModelForCausalLM

    base_dir, tuned_dir = _tuned_copy(tiny_llama_dir, tmp_path, tie=tie)
    ks = [1.0, 10.0, 60.0]
    outs = {k: tmp_path / f"k{k:g}" for k in ks}
    restore_many(
        base_dir, tuned_dir, outs, strategy, region, seed=5, settings=EngineSettings(progress=False)
    )
    model = AutoModelForCausalLM.from_pretrained(tuned_dir)
    before = _state(model)
    seen = sweep_inplace(
        model,
        source_from_dir(base_dir),
        ks,
        strategy,
        region,
        5,
        lambda k, m: _state(m),
        settings=EngineSettings(chunk_elems=50, progress=False),
        flat=flat,
    )
    assert list(seen) == ks
    for k in ks:
        expected = source_from_dir(outs[k])
        for name in expected.names():
            assert torch.equal(seen[k][name], expected.get(name)), (k, name)
        assert any(not torch.equal(seen[k][n], before[n]) for n in before)
    after = _state(model)
    assert all(torch.equal(after[n].view(torch.int32), before[n].view(torch.int32)) for n in before)


def test_flat_sweep_keeps_no_base_cache_while_evaluating(tiny_llama_dir, tmp_path) -> None:
    """The flat buffers hold the base, so the device cache of pass 1 is freed before any k."""
    from transformers import AutoModelForCausalLM

    base_dir, tuned_dir = _tuned_copy(tiny_llama_dir, tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tuned_dir)
    stats = RestoreStats()
    sweep_inplace(
        model, source_from_dir(base_dir), [10.0], "top", "transformer", 0, lambda k, m: None,
        settings=EngineSettings(progress=False), cache_base=True, stats=stats, flat=True,
    )  # fmt: skip
    assert stats.device_cached_bytes == 0
    stats = RestoreStats()
    sweep_inplace(
        model, source_from_dir(base_dir), [10.0], "top", "transformer", 0, lambda k, m: None,
        settings=EngineSettings(progress=False), cache_base=True, stats=stats, flat=False,
    )  # fmt: skip
    assert stats.device_cached_bytes > 0  # the streaming path rereads the base for each k


def test_sweep_undoes_when_callback_raises(tiny_llama_dir, tmp_path) -> None:
    from transformers import AutoModelForCausalLM

    base_dir, tuned_dir = _tuned_copy(tiny_llama_dir, tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tuned_dir)
    before = _state(model)

    def boom(k, m):
        raise RuntimeError("evaluation failed")

    with pytest.raises(RuntimeError, match="evaluation failed"):
        sweep_inplace(
            model,
            source_from_dir(base_dir),
            [10],
            "top",
            "transformer",
            0,
            boom,
            settings=EngineSettings(progress=False),
        )
    assert all(torch.equal(model.state_dict()[n], before[n]) for n in before)


@pytest.mark.parametrize("strategy", ["top", "bottom", "random"])
def test_flat_sweep_equals_streaming_with_ties(tiny_llama_dir, tmp_path, strategy) -> None:
    """Half the weights share one r (0.5 -> 0.625), so the cut falls inside a group of equal
    keys whose restore changes values: both paths take the same (earliest) ones."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    g = torch.Generator().manual_seed(3)
    tied = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            tied[name] = torch.rand(p.shape, generator=g) < 0.5
            p[tied[name]] = 0.5
    model.save_pretrained(tmp_path / "base")
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=g))
            p[tied[name]] = 0.625
    seen = {}
    for flat in (False, True):
        seen[flat] = sweep_inplace(
            model,
            source_from_dir(tmp_path / "base"),
            [1, 10, 40, 60],
            strategy,
            "transformer",
            7,
            lambda k, m: _state(m),
            settings=EngineSettings(chunk_elems=64, progress=False),
            flat=flat,
        )
    for k, state in seen[False].items():
        for name, value in state.items():
            assert torch.equal(value, seen[True][k][name]), (strategy, k, name)


def test_flat_sweep_refuses_mixed_dtypes(tiny_llama_dir) -> None:
    from transformers import AutoModelForCausalLM

    from sftlens.errors import SftlensError

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    model.model.layers[0].mlp.to(torch.bfloat16)
    with pytest.raises(SftlensError, match="one dtype"):
        sweep_inplace(
            model, source_from_dir(tiny_llama_dir), [10], "top", "transformer", 0,
            lambda k, m: None, settings=EngineSettings(progress=False), flat=True,
        )  # fmt: skip
