"""restore_checkpoint / restore_many against a brute-force full-sort reference."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from restoration_fixtures import perturb, reference_mask, save_dir, tiny_state

from sftlens.errors import SftlensError
from sftlens.restoration import EngineSettings, restore_checkpoint, restore_many, source_from_dir


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int16) if t.element_size() == 2 else t.view(torch.int32)


def _check_against_reference(out: Path, base, tuned, k, strategy, region, seed=0) -> None:
    ref = reference_mask(base, tuned, k, strategy, region, seed)
    got = source_from_dir(out)
    assert sorted(got.names()) == sorted(base)
    for name in base:
        expected = torch.where(ref[name], base[name], tuned[name]) if name in ref else tuned[name]
        assert torch.equal(_bits(got.get(name)), _bits(expected)), name
    n_changed = sum(int(ref[n].sum()) for n in ref)
    n_region = sum(ref[n].numel() for n in ref)
    assert n_changed == int(n_region * k / 100)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("ties", [False, True])
def test_matches_reference_all_strategies(tmp_path, dtype, ties) -> None:
    base = tiny_state(dtype=dtype, ties=ties)
    tuned = perturb(base, ties=ties)
    b, t = save_dir(base, tmp_path / "b"), save_dir(tuned, tmp_path / "t", shards=3)
    grid = [("transformer", (1, 10, 60)), ("mlp", (33.3,)), ("all", (5, 100))]
    if dtype != torch.float32 or ties:
        grid = grid[:1]  # the full region grid once; the other variants on the default region
    for strategy in ("top", "bottom", "random"):
        for region, ks in grid:
            outs = {k: tmp_path / f"{strategy}-{region}-{k}" for k in ks}
            restore_many(
                b,
                t,
                outs,
                strategy,
                region,
                seed=3,
                settings=EngineSettings(chunk_elems=97, progress=False),
            )
            for k, out in outs.items():
                _check_against_reference(out, base, tuned, k, strategy, region, seed=3)


def test_ties_take_the_earliest_positions(tmp_path) -> None:
    """All r equal: top k% must be the first elements in canonical (natural-name) order."""
    base = {f"model.layers.{i}.mlp.up_proj.weight": torch.ones(4, 5) for i in (0, 2, 10)}
    tuned = {n: v * 1.5 for n, v in base.items()}
    b, t = save_dir(base, tmp_path / "b"), save_dir(tuned, tmp_path / "t")
    out = restore_checkpoint(
        b,
        t,
        tmp_path / "o",
        40,
        "top",
        "transformer",
        settings=EngineSettings(chunk_elems=3, progress=False),
    )
    src = source_from_dir(out)
    assert bool((src.get("model.layers.0.mlp.up_proj.weight") == 1).all())  # 20 restored of 24
    layer2 = src.get("model.layers.2.mlp.up_proj.weight").reshape(-1)
    assert bool((layer2[:4] == 1).all()) and bool((layer2[4:] == 1.5).all())
    assert bool((src.get("model.layers.10.mlp.up_proj.weight") == 1.5).all())


def test_layer_range_and_glob_regions(pair_dirs, tmp_path) -> None:
    b, t, base, tuned = pair_dirs
    for region in ("layers=1-1", "*.mlp.down_proj.weight", "attention+mlp", "embedding"):
        out = restore_checkpoint(
            b,
            t,
            tmp_path / region.replace("*", "x"),
            20,
            "top",
            region,
            settings=EngineSettings(progress=False),
        )
        _check_against_reference(out, base, tuned, 20, "top", region)


def test_output_loads_with_transformers_and_generates(tiny_llama_dir, tmp_path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tuned_model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    with torch.no_grad():
        for p in tuned_model.parameters():
            p.mul_(1 + 0.01 * torch.randn_like(p))
    tuned_model.save_pretrained(tmp_path / "tuned")
    out = restore_checkpoint(
        tiny_llama_dir,
        tmp_path / "tuned",
        tmp_path / "out",
        10,
        settings=EngineSettings(progress=False),
    )
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("Alice was born in", return_tensors="pt").input_ids
    gen = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
    assert gen.shape[1] > ids.shape[1]
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()


def _expect_error(fn, match: str, out: Path) -> None:
    with pytest.raises(SftlensError, match=match) as err:
        fn()
    assert "\n" not in str(err.value)
    assert not out.exists()


def test_bad_inputs_fail_before_writing(pair_dirs, tmp_path) -> None:
    b, t, _base, tuned = pair_dirs
    out = tmp_path / "out"

    def run(base_dir=b, tuned_dir=t, k=10.0, region="transformer", dest=out):
        return lambda: restore_checkpoint(
            base_dir, tuned_dir, dest, k, "top", region, settings=EngineSettings(progress=False)
        )

    for k in (0, -1, 100.5):
        _expect_error(run(k=k), "outside", out)
    _expect_error(run(region="layers=7-9"), "matches no tensor", out)
    _expect_error(run(region="atention"), "did you mean 'attention'", out)
    # names / shapes / dtypes differ
    for i, changed in enumerate(
        (
            {**tuned, "extra.weight": torch.ones(2)},
            {**tuned, "model.norm.weight": torch.ones(3)},
            {**tuned, "model.norm.weight": tuned["model.norm.weight"].double()},
        )
    ):
        bad = save_dir(changed, tmp_path / f"bad{i}")
        _expect_error(run(tuned_dir=bad), ("different tensor names", "shape", "dtype")[i], out)
    # NaN / Inf name the tensor and the model
    for i, value in enumerate((float("nan"), float("inf"))):
        poisoned = {n: v.clone() for n, v in tuned.items()}
        poisoned["model.layers.1.mlp.up_proj.weight"][0, 0] = value
        bad = save_dir(poisoned, tmp_path / f"nan{i}")
        _expect_error(
            run(tuned_dir=bad), "model.layers.1.mlp.up_proj.weight has NaN or Inf.*tuned", out
        )
    # a missing shard
    (next(t.glob("model-00002-*.safetensors"))).rename(t / "moved.bin")
    _expect_error(run(), "missing shard model-00002", out)


def test_out_checks(pair_dirs, tmp_path) -> None:
    b, t, _, _ = pair_dirs
    with pytest.raises(SftlensError, match="same path as input"):
        restore_checkpoint(b, t, t, 10, settings=EngineSettings(progress=False))
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(SftlensError, match="not empty"):
        restore_checkpoint(b, t, busy, 10, settings=EngineSettings(progress=False))
    assert (busy / "keep.txt").read_text() == "x"
    restore_checkpoint(b, t, busy, 10, force=True, settings=EngineSettings(progress=False))
    assert (busy / "model.safetensors").is_file()
