"""Memory stays bounded by a few tensors and chunks, not by the model."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest
import torch
from restoration_fixtures import perturb, save_dir, tiny_state

from sftlens.restoration import EngineSettings, restore_checkpoint, source_from_dir
from sftlens.restoration.io import DirSource
from sftlens.restoration.restore import open_pair, plan_cuts, write_restored
from sftlens.restoration.streaming import Engine


class Tracked(DirSource):
    """A DirSource that counts how many fetched tensors are alive at once."""

    alive = 0
    peak = 0
    open_shards: set = set()

    def get(self, name: str) -> torch.Tensor:
        t = super().get(name)
        Tracked.alive += 1
        Tracked.peak = max(Tracked.peak, Tracked.alive)
        weakref.finalize(t, Tracked._gone)
        return t

    @staticmethod
    def _gone() -> None:
        Tracked.alive -= 1


def test_streaming_holds_a_few_tensors_and_small_chunks(tmp_path) -> None:
    base = tiny_state(layers=12, hidden=32)  # ~200k elements, 100 tensors
    tuned = perturb(base)
    b, t = save_dir(base, tmp_path / "b", shards=4), save_dir(tuned, tmp_path / "t", shards=5)
    from sftlens.restoration.streaming import check_pair

    pair = check_pair(Tracked(b), Tracked(t), "transformer")
    chunk = 1000
    assert pair.n > 100 * chunk
    engine = Engine.create("cpu", chunk, progress=False)
    cuts = plan_cuts(pair, [10.0], "top", 0, engine)
    gc.collect()
    write_restored(pair, cuts, {10.0: tmp_path / "out"}, "top", 0, engine, 200_000)
    # the pair being processed, the one the caller still holds and the prefetched one: 3 pairs
    assert Tracked.peak <= 6
    assert Tracked.peak < len(pair.names)
    assert engine.peak_chunk <= chunk
    assert len(list((tmp_path / "out").glob("*.safetensors"))) > 1


def test_one_shard_open_at_a_time(tmp_path) -> None:
    sd = tiny_state(layers=4)
    src = source_from_dir(save_dir(sd, tmp_path / "m", shards=3))
    for name in src.names():
        src.get(name)
        assert src._open is not None and src._open[0] == src.shard_of(name)
    assert src.bytes_read == sum(v.numel() * v.element_size() for v in sd.values())


def test_chunked_equals_unchunked(tmp_path) -> None:
    base = tiny_state()
    tuned = perturb(base)
    b, t = save_dir(base, tmp_path / "b"), save_dir(tuned, tmp_path / "t")
    one = restore_checkpoint(
        b, t, tmp_path / "one", 10, "bottom", settings=EngineSettings(progress=False)
    )
    many = restore_checkpoint(
        b,
        t,
        tmp_path / "many",
        10,
        "bottom",
        settings=EngineSettings(chunk_elems=5, progress=False),
    )
    s1, s2 = source_from_dir(one), source_from_dir(many)
    assert all(torch.equal(s1.get(n), s2.get(n)) for n in s1.names())
    assert open_pair(b, t, "transformer").n == sum(
        v.numel() for n, v in base.items() if ".layers." in n and "norm" not in n
    )


def test_device_budget_is_this_process_share(monkeypatch) -> None:
    """On CUDA the device cache and the flat sweep plan within the process's GPU share (several
    study workers on one GPU), not the device's free memory."""
    import sftlens.generation
    from sftlens.restoration import restore

    monkeypatch.setattr(sftlens.generation, "plannable_memory", lambda device: 12345)
    assert restore._free_bytes(torch.device("cuda")) == 12345
    assert restore._free_bytes(torch.device("cpu")) >= 0


def test_flat_sweep_is_opt_in_off_cuda(tiny_llama_dir) -> None:
    from transformers import AutoModelForCausalLM

    from sftlens.restoration import sweep

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    pair = sweep._live_pair(model, source_from_dir(tiny_llama_dir), "transformer")
    live = {n: pair.tuned.get(n) for n in pair.region}
    assert not sweep._flat_wanted(None, pair, live)  # CPU: the streaming path by default
    assert sweep._flat_wanted(True, pair, live)


@pytest.mark.skipif(not Path("/proc/meminfo").is_file(), reason="Linux /proc/meminfo only")
def test_host_budget_counts_the_reclaimable_page_cache() -> None:
    """On the CPU the budget is MemAvailable, not only the free pages (a full page cache after
    reading checkpoints would otherwise leave no room for the device cache)."""
    import os

    from sftlens.restoration import restore

    meminfo = Path("/proc/meminfo").read_text().splitlines()
    want = next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))
    free_pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    got = restore._free_bytes(torch.device("cpu"))
    assert abs(got - want) < 256 << 20 and got >= free_pages - (256 << 20)
