"""ShardedWriter round trips and is readable by safetensors; sources list lazily."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from sftlens.errors import SftlensError
from sftlens.restoration.io import (
    CacheBudget,
    CachedSource,
    ShardedWriter,
    source_from_dir,
    source_from_model,
)


def test_writer_shards_and_index(tmp_path) -> None:
    tensors = {f"layers.{i}.w": torch.randn(10, 3 + i).to(torch.bfloat16) for i in range(12)}
    tensors["scalar"] = torch.tensor(3.0)
    plan = [(n, t.dtype, tuple(t.shape)) for n, t in tensors.items()]
    w = ShardedWriter(tmp_path, plan, max_shard_bytes=200)
    for n, t in tensors.items():
        w.write(n, t)
    w.finish()
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(tensors)
    files = sorted(tmp_path.glob("model-*.safetensors"))
    assert len(files) > 2
    loaded = {}
    for f in files:
        loaded.update(load_file(str(f)))
    assert all(torch.equal(loaded[n], t) for n, t in tensors.items())
    src = source_from_dir(tmp_path)
    assert src.shape("layers.3.w") == (10, 6) and src.dtype("layers.3.w") == torch.bfloat16
    assert src.names()[:3] == ["layers.0.w", "layers.1.w", "layers.2.w"]


def test_writer_rejects_out_of_order(tmp_path) -> None:
    w = ShardedWriter(tmp_path, [("a", torch.float32, (1,)), ("b", torch.float32, (1,))])
    with pytest.raises(RuntimeError, match="expected a"):
        w.write("b", torch.ones(1))


def test_missing_dir_and_weights(tmp_path) -> None:
    with pytest.raises(SftlensError, match="not found"):
        source_from_dir(tmp_path / "nope")
    with pytest.raises(SftlensError, match="no safetensors weights"):
        source_from_dir(tmp_path)


def test_model_source_lists_tied_weights_once() -> None:
    emb = torch.nn.Embedding(5, 3)
    head = torch.nn.Linear(3, 5, bias=False)
    head.weight = emb.weight
    model = torch.nn.ModuleDict({"embed": emb, "head": head})
    src = source_from_model(model)
    assert src.names() == ["embed.weight"] and src.aliases == {"head.weight": "embed.weight"}


def test_truncated_shard_names_the_tensor(tmp_path) -> None:
    w = ShardedWriter(tmp_path, [("a", torch.float32, (4,)), ("b", torch.float32, (1000,))])
    w.write("a", torch.ones(4))
    w.write("b", torch.ones(1000))
    w.finish()
    path = tmp_path / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    src = source_from_dir(tmp_path)
    assert torch.equal(src.get("a"), torch.ones(4))
    with pytest.raises(SftlensError, match="tensor b is truncated"):
        src.get("b")


def test_cached_source_keeps_chosen_tensors_within_a_shared_budget(tmp_path) -> None:
    from safetensors.torch import save_file

    sd = {f"t{i}": torch.full((4,), float(i)) for i in range(4)}  # 16 bytes each
    save_file(sd, str(tmp_path / "model.safetensors"))
    budget = CacheBudget(40)
    a = CachedSource(
        source_from_dir(tmp_path), device="cpu", cache=["t0", "t1", "t3"], budget=budget
    )
    b = CachedSource(
        source_from_dir(tmp_path), names=["t2"], device="cpu", cache=["t2"], budget=budget
    )
    assert b.names() == ["t2"]
    for name in ("t0", "t1", "t2", "t3"):
        src = b if name == "t2" else a
        assert torch.equal(src.get(name), sd[name])
    assert sorted(a.cached) == ["t0", "t1"] and not b.cached  # 32 of 40 bytes: t2 and t3 miss
    read = a.bytes_read
    a.get("t0"), a.get("t1")
    assert a.bytes_read == read  # served from the cache
    a.get("t3")
    assert a.bytes_read == read + 16  # not cached: read again
    a.drop()
    assert budget.left == 40 and not a.cached


def test_large_tensors_are_read_in_concurrent_pieces(tmp_path, monkeypatch) -> None:
    from safetensors.torch import save_file

    from sftlens.restoration.io import sources as tensors

    sd = {"a": torch.randn(37, 11), "b": torch.arange(5, dtype=torch.int64)}
    save_file(sd, str(tmp_path / "model.safetensors"))
    monkeypatch.setattr(tensors, "READ_PIECE", 24)  # 37 * 11 * 4 bytes -> 68 pieces
    src = source_from_dir(tmp_path)
    assert torch.equal(src.get("a"), sd["a"]) and torch.equal(src.get("b"), sd["b"])
    assert src.bytes_read == 37 * 11 * 4 + 5 * 8
