"""Pure selection: exact cuts from radix histograms vs a full sort, chunk-order ties, keys."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sftlens.restoration.exact_cut import (
    N_HI,
    BinCandidates,
    Pending,
    apply_cut,
    coarse_cut,
    cut_from_hists,
    hi_bin_for,
    hist_hi,
    hist_lo,
    keys_for,
    relative_update,
    select_count,
)


def _select(keys: torch.Tensor, need: int, chunk: int) -> torch.Tensor:
    hist = torch.zeros(N_HI, dtype=torch.int64)
    for c in keys.split(chunk):
        hist_hi(c, hist)
    lo = {}
    b = hi_bin_for(hist, need)
    if b is not None:
        lo[b] = sum(hist_lo(c, b) for c in keys.split(chunk))
    cut = cut_from_hists(hist, lo, need)
    masks, taken = [], 0
    for c in keys.split(chunk):
        m, taken = apply_cut(c, cut, taken)
        masks.append(m)
    assert taken == cut.ties
    return torch.cat(masks)


def _reference(keys: torch.Tensor, need: int) -> torch.Tensor:
    order = sorted(range(keys.numel()), key=lambda i: (-int(keys[i]), i))
    mask = torch.zeros(keys.numel(), dtype=torch.bool)
    mask[order[:need]] = True
    return mask


KEYS = st.integers(0, 2**31 - 1) | st.sampled_from([0, 7, 2**20, 2**31 - 1])
CROWDED = st.integers(5 << 15, (5 << 15) + 40)  # many keys in one high-bits bin, some equal
FRAC, CHUNK = st.floats(0, 1), st.integers(1, 64)


@settings(max_examples=25, deadline=None)
@given(values=st.lists(KEYS, min_size=1, max_size=200), frac=FRAC, chunk=CHUNK)
def test_cut_matches_full_sort(values, frac, chunk) -> None:
    keys = torch.tensor(values, dtype=torch.int32)
    need = int(frac * keys.numel())
    assert torch.equal(_select(keys, need, chunk), _reference(keys, need))


def _select_two_pass(
    keys: torch.Tensor, need: int, chunk: int, exact: dict[int, int]
) -> torch.Tensor:
    """Pass 1: high-bits histogram; pass 2: sure cut + the threshold bin's candidates; patch."""
    hist = torch.zeros(N_HI, dtype=torch.int64)
    for c in keys.split(chunk):
        hist_hi(c, hist)
    planned = coarse_cut(hist, need, exact)
    cut = planned.sure if isinstance(planned, Pending) else planned
    cand = BinCandidates(planned.bin) if isinstance(planned, Pending) else None
    masks, taken, off = [], 0, 0
    for c in keys.split(chunk):
        if cand is not None:
            cand.add("x", off, c, c)
        m, taken = apply_cut(c, cut, taken)
        masks.append(m)
        off += c.numel()
    assert taken == cut.ties
    mask = torch.cat(masks)
    if cand is not None:
        assert isinstance(planned, Pending)
        final = cand.resolve(planned)
        b = hi_bin_for(hist, need)
        assert b is not None
        assert final == cut_from_hists(hist, {b: hist_lo(keys, b)}, need)  # same cut as refining
        for name, idx, vals in cand.chosen(final):
            assert name == "x" and torch.equal(vals, keys[idx])
            assert not bool(mask[idx].any())
            mask[idx] = True
    return mask


@settings(max_examples=40, deadline=None)
@given(values=st.lists(KEYS | CROWDED, min_size=1, max_size=200), frac=FRAC, chunk=CHUNK)
def test_two_pass_cut_matches_full_sort(values, frac, chunk) -> None:
    keys = torch.tensor(values, dtype=torch.int32)
    need = int(frac * keys.numel())
    want = _reference(keys, need)
    assert torch.equal(_select_two_pass(keys, need, chunk, {}), want)
    zeros = {0: int((keys == 0).sum()), 7: int((keys == 7).sum())}  # exact counts of two keys
    assert torch.equal(_select_two_pass(keys, need, chunk, zeros), want)


def test_same_high_bits_refined_exactly() -> None:
    # all keys share the high 16 bits: only the low-bit histogram separates them
    keys = torch.tensor([5 << 15 | x for x in (3, 9, 9, 1, 9, 0)], dtype=torch.int32)
    assert _select(keys, 3, 2).tolist() == [False, True, True, False, True, False]
    assert _select(keys, 2, 4).tolist() == [False, True, True, False, False, False]
    for need, chunk in ((3, 2), (2, 4), (5, 1)):
        assert torch.equal(_select_two_pass(keys, need, chunk, {}), _select(keys, need, chunk))


def test_relative_update_is_float32_formula() -> None:
    b = torch.tensor([1.0, -2.0, 0.0, 3.0], dtype=torch.bfloat16)
    t = torch.tensor([1.5, -2.0, 1e-3, -3.0], dtype=torch.bfloat16)
    r = relative_update(b, t)
    expected = (t.float() - b.float()).abs() / (b.float().abs() + 1e-8)
    assert r.dtype == torch.float32 and torch.equal(r, expected)


def test_key_orders() -> None:
    r = torch.tensor([0.0, 1e-9, 0.5, 2.0, float("inf")])
    top, bottom = keys_for("top", r, 0, 0), keys_for("bottom", r, 0, 0)
    assert torch.equal(torch.argsort(top), torch.arange(5))
    assert torch.equal(torch.argsort(bottom), torch.arange(4, -1, -1))


def test_random_keys_independent_of_chunking_and_seeded() -> None:
    whole = keys_for("random", None, salt=123, offset=0, numel=1000, device=torch.device("cpu"))
    parts = [
        keys_for("random", None, 123, off, numel=100, device=torch.device("cpu"))
        for off in range(0, 1000, 100)
    ]
    assert torch.equal(whole, torch.cat(parts))
    other = keys_for("random", None, salt=124, offset=0, numel=1000, device=torch.device("cpu"))
    assert not torch.equal(whole, other)
    assert int(whole.min()) >= 0 and len(set(whole.tolist())) > 990


def test_select_count_is_floor() -> None:
    assert select_count(1000, 10) == 100
    assert select_count(999, 10) == 99
    assert select_count(7, 100) == 7
    assert select_count(3, 1) == 0
