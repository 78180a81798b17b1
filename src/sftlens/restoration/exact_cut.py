"""Exact global k% selection without a flat array (pure tensor code, no I/O).

Every element of a region gets a 31-bit integer *key*; selecting k% means taking
the ``count = floor(n*k/100)`` largest keys over the whole region, ties broken by
canonical position (tensors in natural name order, then flat index: earlier wins).

- ``top``: key = bits of r (float32, r >= 0, so the bit pattern orders like the value);
- ``bottom``: key = 0x7FFFFFFF - bits of r (the smallest r first);
- ``random``: key = a seeded integer hash of (seed, tensor name, flat index),
  identical on CPU and GPU and for every chunk size.

The cut is found by radix refinement: a 65,536-bin histogram of the key's high
16 bits, then a 32,768-bin histogram of the low 15 bits inside the one bin that
holds the threshold.  That gives the exact threshold key ``t`` and how many of
the elements with key ``t`` to take (the first ones in canonical order).

The high-bits histogram alone often decides the cut (:func:`coarse_cut`): nothing
selected, the whole threshold bin selected, or a bin holding one key only.
Otherwise the cut is :class:`Pending`: everything above the bin is selected,
nothing below it, and the bin's elements are collected while the restore pass
runs (:class:`BinCandidates`, in canonical order); their low bits then give the
exact cut and the chosen ones are patched in afterwards.

Example::

    r = relative_update(b_chunk, t_chunk)                # float32, shape [m]
    h = hist_hi(keys_for("top", r, salt=0, offset=0))    # int64 [65536]
    cut = cut_from_hists(h, {b: lo_hist}, need)          # exact
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from sftlens.errors import SftlensError
from sftlens.registry import suggest
from sftlens.restoration.config import EPS, R_DTYPES, STRATEGIES

HI_BITS, LO_BITS = 16, 15
N_HI, N_LO = 1 << HI_BITS, 1 << LO_BITS
LO_MASK = N_LO - 1
MAX_KEY = (1 << 31) - 1
__all__ = ["EPS", "STRATEGIES"]  # r's epsilon and the strategy names, owned by restoration.config

_POOL: ThreadPoolExecutor | None = None


def select_count(n: int, k: float) -> int:
    """``floor(n*k/100)``, computed as the reference does (Python float)."""
    return math.floor(n * k / 100)


def check_r_dtype(name: str) -> str:
    """``name`` if it is a known r dtype (``float32``, ``model``), else a did-you-mean error."""
    if name not in R_DTYPES:
        raise SftlensError(f"unknown r dtype '{name}'{suggest(name, R_DTYPES)}")
    return name


def relative_update(
    base: torch.Tensor, tuned: torch.Tensor, r_dtype: str = "float32", eps: float = EPS
) -> torch.Tensor:
    """r = |t - b| / (|b| + eps) as float32, eps = 1e-8 as in the paper.  [m] -> [m]

    This is the one definition of r; ``eps`` is the ``r_eps`` setting of the
    restoration stages (a larger one bounds r on near-zero base weights).

    ``r_dtype="float32"`` computes in float32 from the stored values; ``"model"``
    computes in the stored dtype (bf16 pairs: every operation rounded to bf16, as the
    paper's code does) and widens the result exactly, so its order and its ties are
    those of the model-dtype r.
    """
    if r_dtype == "model":
        dt = torch.promote_types(base.dtype, tuned.dtype)
        b = base.to(dt)
        return (tuned.to(dt) - b).abs_().div_(b.abs().add_(eps)).float()
    b = base.float()
    diff = tuned.float() - b  # new tensor [m]
    return diff.abs_().div_(b.abs().add_(eps))


def tensor_salt(seed: int, name: str) -> int:
    """A 32-bit salt from (seed, tensor name) for the random strategy."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:4], "little")


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """A bijective 32-bit integer mix on int64 values in [0, 2^32)."""
    x = ((x >> 16) ^ x) * 0x45D9F3B & 0xFFFFFFFF
    x = ((x >> 16) ^ x) * 0x45D9F3B & 0xFFFFFFFF
    return (x >> 16) ^ x


def keys_for(
    strategy: str,
    r: torch.Tensor | None,
    salt: int,
    offset: int,
    numel: int | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """int32 keys (larger = selected first) of one chunk; ``offset`` = its flat start."""
    if strategy == "top":
        assert r is not None
        return r.view(torch.int32)
    if strategy == "bottom":
        assert r is not None
        return MAX_KEY - r.view(torch.int32)
    if strategy == "random":
        m = numel if numel is not None else r.numel()  # type: ignore[union-attr]
        dev = device if device is not None else r.device  # type: ignore[union-attr]
        idx = torch.arange(offset, offset + m, device=dev, dtype=torch.int64)
        x = _hash32((idx + salt) & 0xFFFFFFFF) ^ salt
        return (_hash32(x) >> 1).to(torch.int32)
    STRATEGIES.get(strategy)
    raise AssertionError("unreachable")


def _bincount(values: torch.Tensor, minlength: int) -> torch.Tensor:
    """bincount, split over threads on CPU (torch's CPU bincount is single-threaded)."""
    global _POOL
    n = values.numel()
    if values.is_cuda or n < (1 << 22) or torch.get_num_threads() < 2:
        return torch.bincount(values, minlength=minlength)
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=torch.get_num_threads())
    parts = values.chunk(torch.get_num_threads())
    hists = list(_POOL.map(lambda p: torch.bincount(p, minlength=minlength), parts))
    return torch.stack(hists).sum(0)


def _count_into(acc: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """``acc += bincount(values)``; small inputs scatter instead of building a full histogram."""
    if values.numel() * 4 < acc.numel():
        ones = torch.ones(values.shape, dtype=acc.dtype, device=acc.device)
        return acc.index_put_((values.long(),), ones, accumulate=True)
    return acc.add_(_bincount(values, acc.numel()))


def hist_hi(keys: torch.Tensor, acc: torch.Tensor | None = None) -> torch.Tensor:
    """Counts of the key's high 16 bits, added into ``acc``.  [m] int32 -> [65536] int64"""
    if acc is None:
        acc = torch.zeros(N_HI, dtype=torch.int64, device=keys.device)
    return _count_into(acc, keys >> LO_BITS)


def hist_lo(keys: torch.Tensor, hi_bin: int, acc: torch.Tensor | None = None) -> torch.Tensor:
    """Counts of the low 15 bits among keys whose high bits equal ``hi_bin``.  -> [32768]"""
    if acc is None:
        acc = torch.zeros(N_LO, dtype=torch.int64, device=keys.device)
    inside = keys[(keys >> LO_BITS) == hi_bin]
    return _count_into(acc, inside & LO_MASK)


@dataclass(frozen=True)
class Cut:
    """Select keys > ``t`` and the first ``ties`` keys == ``t`` (canonical order).

    ``count`` is the number selected; ``empty`` marks a selection of nothing.
    """

    t: int
    ties: int
    count: int
    empty: bool = False


def find_bin(hist: torch.Tensor, need: int) -> tuple[int, int]:
    """The bin (from the top) where the ``need``-th largest key falls, and the count above it."""
    h = hist.to("cpu", torch.int64)
    above = torch.flip(torch.cumsum(torch.flip(h, [0]), 0), [0]) - h  # count strictly above bin
    # the largest bin index b with above[b] + h[b] >= need
    ok = torch.nonzero(above + h >= need)
    b = int(ok[-1])
    return b, int(above[b])


def hi_bin_for(hist: torch.Tensor, need: int) -> int | None:
    """The high-bits bin to refine for ``need`` (None when nothing is selected)."""
    return None if need <= 0 else find_bin(hist, need)[0]


_NOTHING = Cut(t=MAX_KEY, ties=0, count=0, empty=True)


def _check_need(hist: torch.Tensor, need: int) -> None:
    """``need`` elements must exist in the histogram."""
    total = int(hist.sum())
    if need > total:
        raise ValueError(f"cannot select {need} of {total} elements")


def cut_from_hists(hi: torch.Tensor, lo: Mapping[int, torch.Tensor], need: int) -> Cut:
    """The exact cut for the ``need`` largest keys from both histogram levels."""
    if need <= 0:
        return _NOTHING
    _check_need(hi, need)
    b, above_b = find_bin(hi, need)
    lo_b, above_lo = find_bin(lo[b], need - above_b)
    t = (b << LO_BITS) | lo_b
    return Cut(t=t, ties=need - above_b - above_lo, count=need)


def apply_cut(keys: torch.Tensor, cut: Cut, ties_taken: int) -> tuple[torch.Tensor, int]:
    """Boolean mask of selected elements in this chunk and the updated tie count.

    Chunks must be visited in canonical order so that the first ties win.
    """
    if cut.empty:
        return torch.zeros_like(keys, dtype=torch.bool), ties_taken
    mask = keys > cut.t
    left = cut.ties - ties_taken
    if left > 0:
        eq = keys == cut.t
        n_eq = int(eq.sum())
        if n_eq <= left:
            mask |= eq
            ties_taken += n_eq
        elif n_eq:
            first = torch.nonzero(eq).view(-1)[:left]  # positions of the first `left` ties
            mask[first] = True
            ties_taken += left
    return mask, ties_taken


@dataclass(frozen=True)
class Pending:
    """A cut known up to one high-bits bin (after pass 1, before the bin is refined).

    Keys above ``bin`` are selected and keys below it are not; ``count - above`` of
    the ``size`` keys inside it are, which their low bits decide.
    """

    bin: int
    above: int  # selected keys in bins above ``bin``
    size: int  # keys inside ``bin``
    count: int  # keys selected in all

    @property
    def sure(self) -> Cut:
        """The part known already: every key above the bin, no ties."""
        return Cut(t=(self.bin << LO_BITS) | LO_MASK, ties=0, count=self.above)

    def resolve(self, lo: torch.Tensor) -> Cut:
        """The exact cut from the bin's low-bits histogram (the same as :func:`cut_from_hists`)."""
        lo_b, above_lo = find_bin(lo, self.count - self.above)
        return Cut(
            t=(self.bin << LO_BITS) | lo_b,
            ties=self.count - self.above - above_lo,
            count=self.count,
        )


def coarse_cut(
    hist: torch.Tensor, need: int, exact: Mapping[int, int] | None = None
) -> Cut | Pending:
    """The cut for the ``need`` largest keys from the high-bits histogram alone, when it decides it.

    Decided: nothing selected; the whole threshold bin selected (``t`` = just below
    the bin); or the bin holds one key only, known from ``exact`` (key -> count of
    keys equal to it, e.g. r = 0).  Otherwise :class:`Pending`.  A decided cut
    selects the same elements as :func:`cut_from_hists`.
    """
    if need <= 0:
        return _NOTHING
    _check_need(hist, need)
    b, above = find_bin(hist, need)
    size = int(hist[b])
    if need - above == size:
        return Cut(t=(b << LO_BITS) - 1, ties=0, count=need)
    for key, n_key in (exact or {}).items():
        if key >> LO_BITS == b and n_key == size:
            return Cut(t=key, ties=need - above, count=need)
    return Pending(bin=b, above=above, size=size, count=need)


def candidate_bytes(itemsize: int) -> int:
    """Memory per element held by :class:`BinCandidates`: int32 index, int16 low bits, value."""
    return 4 + 2 + itemsize


class BinCandidates:
    """The elements of one high-bits bin met during a pass, in canonical order.

    Per element it keeps the flat index inside its chunk (int32; chunks are < 2^31),
    the key's low 15 bits (int16) and the base value (stored dtype), on the CPU;
    the bin's low-bits histogram accumulates as chunks arrive.  Chunks must be
    added in canonical order (as the passes visit them).
    """

    def __init__(self, hi_bin: int, device: torch.device | str = "cpu") -> None:
        self.bin = hi_bin
        self.lo = torch.zeros(N_LO, dtype=torch.int64, device=device)
        self.parts: list[tuple[str, int, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        self.count = 0
        self.nbytes = 0

    def add(self, name: str, offset: int, keys: torch.Tensor, base: torch.Tensor) -> None:
        """Keep the elements of one chunk (``keys`` [m], ``base`` [m] values) that fall in the bin."""
        first = self.bin << LO_BITS  # two bool temporaries, no int32 one
        idx = torch.nonzero((keys >= first).logical_and_(keys <= first | LO_MASK)).view(-1)
        if idx.numel() == 0:
            return
        lo = keys[idx] & LO_MASK
        _count_into(self.lo, lo)
        part = (
            name,
            offset,
            idx.to(torch.int32).cpu(),
            lo.to(torch.int16).cpu(),
            base.reshape(-1)[idx].cpu(),
        )
        self.parts.append(part)
        self.count += idx.numel()
        self.nbytes += idx.numel() * candidate_bytes(base.element_size())

    def resolve(self, pending: Pending) -> Cut:
        """The exact cut of ``pending`` (whose bin this is) from the collected low bits."""
        if pending.bin != self.bin or self.count != pending.size:
            raise RuntimeError(
                f"bin {self.bin}: met {self.count} elements, pass 1 counted {pending.size} "
                "(did a checkpoint change between passes?)"
            )
        return pending.resolve(self.lo.cpu())

    def chosen(self, cut: Cut) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
        """(tensor name, ascending flat indices int64, base values) of the elements ``cut`` takes.

        Consecutive items of one tensor are merged; ties go to the earliest elements.
        """
        taken = 0
        current: tuple[str, list[torch.Tensor], list[torch.Tensor]] | None = None
        for name, off, idx, lo, vals in self.parts:
            keys = lo.to(torch.int32) | (self.bin << LO_BITS)
            mask, taken = apply_cut(keys, cut, taken)
            if not bool(mask.any()):
                continue
            if current is not None and current[0] != name:
                yield current[0], torch.cat(current[1]), torch.cat(current[2])
                current = None
            if current is None:
                current = (name, [], [])
            current[1].append(idx[mask].to(torch.int64) + off)
            current[2].append(vals[mask])
        if current is not None:
            yield current[0], torch.cat(current[1]), torch.cat(current[2])
        if taken != cut.ties:
            raise RuntimeError(f"bin {self.bin}: took {taken} ties, expected {cut.ties}")
