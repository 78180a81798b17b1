"""Two read passes: the threshold bin resolved in the restore pass equals the 3-pass refinement.

Every case is checked three ways: the normal path (2 passes), the fallback forced by a
candidate budget of 0 bytes (the refinement pass, 3 passes) and the brute-force reference
(a stable full sort of the flat region, plus ``torch.topk`` where keys are distinct).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from restoration_fixtures import perturb, reference_mask, save_dir, tiny_state

from sftlens.restoration import (
    EngineSettings,
    restore_many,
    source_from_dir,
    source_from_model,
    sweep_inplace,
)
from sftlens.restoration.exact_cut import LO_BITS, Cut, Pending, relative_update
from sftlens.restoration.io import ShardedWriter, natural_key
from sftlens.restoration.regions import select_names
from sftlens.restoration.restore import RestoreStats, open_pair
from sftlens.restoration.streaming import Engine, exact_cuts, histogram_pass, two_pass_cuts

KS = (0.05, 0.1, 1.0, 10.0, 33.3, 60.0, 100.0)  # 0.05% of 1280 selects nothing, 0.1% one element


def narrow(sd: dict[str, torch.Tensor], seed: int = 1) -> dict[str, torch.Tensor]:
    """A tuned copy whose r all lie near 0.01: a few high-bits bins hold every element."""
    g = torch.Generator().manual_seed(seed)
    return {
        n: (t.float() * (1 + 0.01 * (1 + 0.002 * torch.randn(t.shape, generator=g)))).to(t.dtype)
        for n, t in sd.items()
    }


def _data(kind: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    if kind == "ties":  # values and factors from tiny sets: huge ties, half the r exactly 0
        base = tiny_state(ties=True)
        return base, perturb(base, ties=True)
    base = tiny_state()
    return base, (narrow(base) if kind == "narrow" else perturb(base))


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int16) if t.element_size() == 2 else t.view(torch.int32)


def _expected(base, tuned, k, strategy, region, seed) -> dict[str, torch.Tensor]:
    ref = reference_mask(base, tuned, k, strategy, region, seed)
    return {n: torch.where(ref[n], base[n], tuned[n]) if n in ref else tuned[n] for n in base}


def _same(out: Path, expected: dict[str, torch.Tensor]) -> None:
    got = source_from_dir(out)
    assert sorted(got.names()) == sorted(expected)
    for name, want in expected.items():
        assert torch.equal(_bits(got.get(name)), _bits(want)), name


def _run(tmp: Path, b: Path, t: Path, tag: str, strategy: str, region: str, **kw) -> RestoreStats:
    stats = RestoreStats()
    outs = {k: tmp / f"{tag}-{k:g}" for k in KS}
    restore_many(
        b,
        t,
        outs,
        strategy,
        region,
        seed=3,
        stats=stats,
        settings=EngineSettings(progress=False, **kw),
    )
    return stats


@pytest.mark.parametrize("kind", ["wide", "narrow", "ties"])
@pytest.mark.parametrize("strategy", ["top", "bottom", "random"])
def test_two_pass_equals_three_pass_and_reference(tmp_path, kind, strategy) -> None:
    base, tuned = _data(kind)
    b, t = save_dir(base, tmp_path / "b"), save_dir(tuned, tmp_path / "t", shards=2)
    region = "transformer"
    two = _run(tmp_path, b, t, "two", strategy, region, chunk_elems=97)
    three = _run(tmp_path, b, t, "three", strategy, region, chunk_elems=97, candidate_bytes=0)
    for k in KS:
        want = _expected(base, tuned, k, strategy, region, seed=3)
        _same(tmp_path / f"two-{k:g}", want)
        _same(tmp_path / f"three-{k:g}", want)
    # the normal path reads each checkpoint twice; the fallback refines the region once more
    assert two.read_passes == 2 and two.refined_bins == 0
    assert two.passes == ["pass 1: histogram", "pass 2: restore"]
    total = sum(v.numel() * v.element_size() for v in (*base.values(), *tuned.values()))
    in_region = set(select_names(sorted(base), region, arch="llama"))
    base_outside = sum(v.numel() * v.element_size() for n, v in base.items() if n not in in_region)
    assert two.bytes_read == 2 * total - base_outside  # pass 2 needs no base tensor outside
    assert len(two.pass_seconds) == 2
    assert three.cuts == two.cuts  # identical exact cuts from candidates and from refinement
    if two.candidates:
        assert three.read_passes == 3 and three.refined_bins >= 1 and three.candidates == 0
        region_bytes = sum(
            base[n].numel() * base[n].element_size() * 2
            for n in select_names(sorted(base), region, arch="llama")
        )
        assert three.bytes_read == 2 * total - base_outside + region_bytes
    else:
        assert three.read_passes == 2
    if kind == "narrow" and strategy != "random":
        assert two.candidates > 0 and two.bytes_patched > 0  # the bin path really ran


def test_random_strategy_with_crowded_bins(tmp_path) -> None:
    """~3 hashed keys per high-bits bin: the random strategy's threshold bins are pending too."""
    base = tiny_state(layers=12, hidden=32, vocab=4)
    tuned = perturb(base)
    b, t = save_dir(base, tmp_path / "b"), save_dir(tuned, tmp_path / "t", shards=3)
    stats = RestoreStats()
    ks = (0.01, 7.0, 50.0)
    outs = {k: tmp_path / f"k{k:g}" for k in ks}
    restore_many(
        b,
        t,
        outs,
        "random",
        "transformer",
        seed=9,
        stats=stats,
        settings=EngineSettings(progress=False),
    )
    assert stats.read_passes == 2 and stats.candidates > 0
    for k, out in outs.items():
        _same(out, _expected(base, tuned, k, "random", "transformer", 9))


def test_cuts_match_the_refinement_pass(pair_dirs) -> None:
    """Pending cuts resolve to exactly the refinement pass's Cut; decided ones select the same set."""
    b, t, _, _ = pair_dirs
    for strategy in ("top", "bottom", "random"):
        pair = open_pair(b, t, "all")
        engine = Engine.create("cpu", 50, progress=False, candidate_bytes=0)
        stats = histogram_pass(pair, strategy, 0, engine)
        planned = two_pass_cuts(pair, stats, KS, strategy, 0, engine)  # budget 0: all refined
        refined = exact_cuts(pair, stats.hist, KS, strategy, 0, engine)
        for k in KS:
            got = planned[k]
            assert isinstance(got, Cut)
            if got != refined[k]:  # the whole threshold bin is taken: same elements
                assert got.t == ((refined[k].t >> LO_BITS) << LO_BITS) - 1 and got.ties == 0
                assert got.count == refined[k].count


def test_wide_top_and_bottom_equal_torch_topk(tmp_path) -> None:
    """No tie across the cut: the selection is what a flat torch.topk picks."""
    base = tiny_state(layers=3, hidden=16)
    tuned = narrow(base)  # close r values: many in the threshold bins
    b, t = save_dir(base, tmp_path / "b"), save_dir(tuned, tmp_path / "t")
    names = sorted(select_names(sorted(base), "transformer", arch="llama"), key=natural_key)
    flat = torch.cat([relative_update(base[n], tuned[n]).reshape(-1) for n in names])
    for strategy, largest in (("top", True), ("bottom", False)):
        stats = RestoreStats()
        outs = {k: tmp_path / f"{strategy}-{k:g}" for k in (1.0, 10.0, 60.0)}
        restore_many(
            b,
            t,
            outs,
            strategy,
            "transformer",
            stats=stats,
            settings=EngineSettings(progress=False),
        )
        assert stats.read_passes == 2 and stats.candidates > 0
        for k, out in outs.items():
            count = int(flat.numel() * k / 100)
            ordered = flat.sort(descending=largest).values
            assert ordered[count - 1] != ordered[count]  # the top-k set is unique
            chosen = torch.zeros(flat.numel(), dtype=torch.bool)
            chosen[torch.topk(flat, count, largest=largest).indices] = True
            got = source_from_dir(out)
            pos = 0
            for n in names:
                m = base[n].numel()
                want = torch.where(chosen[pos : pos + m].view(base[n].shape), base[n], tuned[n])
                assert torch.equal(got.get(n), want), (strategy, k, n)
                pos += m


def test_budget_keeps_small_bins_and_refines_the_rest(tmp_path) -> None:
    base = tiny_state(layers=3, hidden=16)
    tuned = narrow(base)
    b, t = save_dir(base, tmp_path / "b"), save_dir(tuned, tmp_path / "t")
    ks = (1.0, 10.0, 40.0, 60.0, 90.0)
    pair = open_pair(b, t, "transformer")
    engine = Engine.create("cpu", 0, progress=False)
    plan = two_pass_cuts(pair, histogram_pass(pair, "top", 0, engine), ks, "top", 0, engine)
    sizes = sorted({p.bin: p.size for p in plan.values() if isinstance(p, Pending)}.values())
    assert len(sizes) >= 2
    budget = sizes[0] * (6 + 4)  # int32 index + int16 low bits + a float32 value each
    stats = RestoreStats()
    outs = {k: tmp_path / f"k{k:g}" for k in ks}
    restore_many(
        b,
        t,
        outs,
        "top",
        "transformer",
        stats=stats,
        settings=EngineSettings(progress=False, candidate_bytes=budget),
    )
    assert stats.read_passes == 3 and stats.refined_bins == len(sizes) - 1
    assert stats.candidates == sizes[0] and stats.candidate_nbytes <= budget
    for k, out in outs.items():
        _same(out, _expected(base, tuned, k, "top", "transformer", 0))


def test_unchanged_elements_need_no_candidates(tmp_path) -> None:
    """A threshold inside the r = 0 key (a huge exact tie) is decided by pass 1 alone."""
    base = tiny_state(ties=True)
    tuned = perturb(base, ties=True)
    b, t = save_dir(base, tmp_path / "b"), save_dir(tuned, tmp_path / "t")
    for strategy, k in (("bottom", 10.0), ("top", 80.0)):
        stats = RestoreStats()
        out = tmp_path / f"{strategy}"
        restore_many(
            b,
            t,
            {k: out},
            strategy,
            "transformer",
            stats=stats,
            settings=EngineSettings(progress=False, candidate_bytes=0),
        )
        assert stats.read_passes == 2 and stats.candidates == 0, strategy
        cut = stats.cuts[k]
        assert cut.t == (0 if strategy == "top" else 2**31 - 1) and cut.ties > 0
        _same(out, _expected(base, tuned, k, strategy, "transformer", 0))


@pytest.mark.parametrize("strategy", ["top", "random"])
def test_sweep_inplace_two_pass_and_fallback(strategy) -> None:
    base = tiny_state(layers=3, hidden=16)
    tuned = narrow(base)
    ks = [0.1, 10.0, 60.0, 100.0]
    seen: dict[int, dict[float, dict[str, torch.Tensor]]] = {}
    for budget in (1 << 30, 0):
        live = {n: v.clone() for n, v in tuned.items()}
        stats = RestoreStats()
        seen[budget] = sweep_inplace(
            live,
            source_from_model(base),
            ks,
            strategy,
            "transformer",
            3,
            lambda k, m: {n: v.clone() for n, v in m.items()},
            stats=stats,
            settings=EngineSettings(chunk_elems=61, progress=False, candidate_bytes=budget),
        )
        assert all(torch.equal(live[n], tuned[n]) for n in tuned)  # undone
        extra = 1 if budget == 0 and stats.refined_bins else 0
        assert stats.read_passes == 1 + len(ks) + extra  # pass 1, then one pass per k
        if budget and strategy == "top":
            assert stats.candidates > 0
    for k in ks:
        want = _expected(base, tuned, k, strategy, "transformer", 3)
        for budget in seen:
            for n in tuned:
                assert torch.equal(seen[budget][k][n], want[n]), (budget, k, n)


def test_writer_patch_rewrites_only_given_elements(tmp_path) -> None:
    x = torch.arange(1000, dtype=torch.float32).reshape(10, 100)
    y = torch.arange(7, dtype=torch.bfloat16)
    w = ShardedWriter(tmp_path / "o", [("a", x.dtype, (10, 100)), ("b", y.dtype, (7,))], 2000)
    w.write("a", x)
    with pytest.raises(RuntimeError, match="before finish"):
        w.patch("a", torch.tensor([0]), torch.tensor([1.0]))
    w.write("b", y)
    w.finish()
    idx = torch.tensor([0, 3, 64, 65, 500, 999])
    n = w.patch("a", idx, -torch.ones(6), block_bytes=256)  # 4 blocks of 64 elements
    assert n == 4 * (1 + 3) + 4 * 2 + 4 + 4
    w.patch("b", torch.tensor([6]), torch.tensor([9.0], dtype=torch.bfloat16))
    with pytest.raises(ValueError, match="ascending"):
        w.patch("a", torch.tensor([5, 2]), torch.ones(2))
    src = source_from_dir(tmp_path / "o")
    want = x.reshape(-1).clone()
    want[idx] = -1
    assert torch.equal(src.get("a").reshape(-1), want)
    assert src.get("b").tolist() == [0, 1, 2, 3, 4, 5, 9]


@pytest.mark.parametrize("strategy", ["top", "random"])
def test_device_cache_reads_once_and_writes_the_same(tmp_path, strategy) -> None:
    """With pass-1 tensors cached (here on the CPU "device"), later passes read nothing; same bytes."""
    base, tuned = _data("narrow")
    b, t = save_dir(base, tmp_path / "b"), save_dir(tuned, tmp_path / "t", shards=2)
    plain = _run(tmp_path, b, t, "plain", strategy, "transformer", chunk_elems=97)
    cached = _run(
        tmp_path, b, t, "cached", strategy, "transformer", chunk_elems=97, device_cache=True
    )
    total = sum(v.numel() * v.element_size() for v in (*base.values(), *tuned.values()))
    assert cached.bytes_read == total  # each checkpoint read once from disk
    # the threshold bins are refined from the cache (a pass over memory), so nothing is patched
    assert plain.bytes_patched > 0 or strategy == "random"
    assert cached.bytes_patched == 0 and cached.candidates == 0
    assert cached.passes[-1] == "pass 2: restore"
    in_region = set(select_names(sorted(base), "transformer", arch="llama"))
    base_region = sum(v.numel() * v.element_size() for n, v in base.items() if n in in_region)
    tuned_all = sum(v.numel() * v.element_size() for v in tuned.values())
    assert cached.device_cached_bytes == base_region + tuned_all
    assert cached.cuts == plain.cuts
    for k in KS:
        want = _expected(base, tuned, k, strategy, "transformer", seed=3)
        _same(tmp_path / f"cached-{k:g}", want)


def test_partial_device_cache_still_exact(tmp_path, monkeypatch) -> None:
    """A cache budget that holds only part of the pair: the rest is read again; same bytes out."""
    from sftlens.restoration import restore as restore_mod

    base, tuned = _data("narrow")
    b, t = save_dir(base, tmp_path / "b"), save_dir(tuned, tmp_path / "t", shards=2)
    total = sum(v.numel() * v.element_size() for v in (*base.values(), *tuned.values()))
    # 85% of "free" less 8 GiB leaves a budget of about a third of one checkpoint
    monkeypatch.setattr(
        restore_mod, "_free_bytes", lambda device: int(((8 << 30) + total // 6) / 0.85)
    )
    stats = _run(tmp_path, b, t, "part", "top", "transformer", chunk_elems=97, device_cache=True)
    assert 0 < stats.device_cached_bytes <= total // 6
    assert total < stats.bytes_read < 2 * total  # cached tensors were not read twice
    assert stats.bytes_patched > 0  # region not fully cached: the threshold bins were patched
    for k in KS:
        _same(tmp_path / f"part-{k:g}", _expected(base, tuned, k, "top", "transformer", seed=3))
