"""Delta sparsification in the streaming engine: DARE and TIES-style trim.

- ``dare``: drop each element of the delta (tuned - base) with probability ``p``
  (seeded hash, same on CPU and GPU) and rescale the kept ones by 1/(1-p);
- ``ties``: per tensor keep the top ``k`` % of |delta| (exact count, ties by flat
  index) and reset the rest to base (TIES-merging's trim step).

Only tensors in the region change; everything else keeps the tuned value.

Example::

    sparsify_checkpoint("runs/base", "runs/ft", "runs/ft-dare90", method="dare", amount=0.9)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sftlens.errors import SftlensError
from sftlens.outdir import check_out_dir
from sftlens.registry import Registry
from sftlens.restoration.config import check_k
from sftlens.restoration.exact_cut import (
    MAX_KEY,
    N_HI,
    N_LO,
    apply_cut,
    cut_from_hists,
    find_bin,
    hist_hi,
    hist_lo,
    keys_for,
    select_count,
    tensor_salt,
)
from sftlens.restoration.io import ShardedWriter, atomic_dirs, copy_aux_files
from sftlens.restoration.restore import open_pair
from sftlens.restoration.settings import DEFAULT_SETTINGS, EngineSettings
from sftlens.restoration.streaming import Engine, check_finite

log = logging.getLogger(__name__)

Method = Callable[[torch.Tensor, torch.Tensor, float, int, Engine], torch.Tensor]
METHODS = Registry[Method]("sparsification method")


@METHODS.register("dare")
def dare(b: torch.Tensor, t: torch.Tensor, p: float, salt: int, engine: Engine) -> torch.Tensor:
    """Drop a fraction ``p`` of the delta at random, rescale the rest by 1/(1-p)."""
    if not 0 <= p < 1:
        raise SftlensError(f"DARE drop rate p={p} must be in [0, 1)")
    out = torch.empty_like(t, device="cpu")
    limit = int(p * (MAX_KEY + 1))
    for off, (bb, tt) in engine.chunks(b, t):
        keep = keys_for("random", None, salt, off, numel=bb.numel(), device=bb.device) >= limit
        bf = bb.float()
        new = bf + (tt.float() - bf) * keep / (1 - p)  # [m] float32
        out.view(-1)[off : off + bb.numel()].copy_(new.to(t.dtype))
    return out


@METHODS.register("ties")
def ties_trim(
    b: torch.Tensor, t: torch.Tensor, k: float, salt: int, engine: Engine
) -> torch.Tensor:
    """Keep the top ``k`` % of |delta| of this tensor; the rest takes the base value."""
    check_k(k, "TIES keep percentage k")

    def keys(bb: torch.Tensor, tt: torch.Tensor) -> torch.Tensor:
        return (tt.float() - bb.float()).abs_().view(torch.int32)

    hist = torch.zeros(N_HI, dtype=torch.int64, device=engine.device)
    for _, (bb, tt) in engine.chunks(b, t):
        hist_hi(keys(bb, tt), hist)
    need = select_count(t.numel(), k)
    lo = {}
    if need:
        hb = find_bin(hist, need)[0]
        lo[hb] = torch.zeros(N_LO, dtype=torch.int64, device=engine.device)
        for _, (bb, tt) in engine.chunks(b, t):
            hist_lo(keys(bb, tt), hb, lo[hb])
    cut = cut_from_hists(hist, lo, need)
    out, taken = torch.empty_like(t, device="cpu"), 0
    for off, (bb, tt) in engine.chunks(b, t):
        mask, taken = apply_cut(keys(bb, tt), cut, taken)
        out.view(-1)[off : off + bb.numel()].copy_(torch.where(mask, tt, bb))
    return out


def sparsify_checkpoint(
    base_dir: str | Path,
    tuned_dir: str | Path,
    out: str | Path,
    method: str,
    amount: float,
    region: str = "transformer",
    seed: int = 0,
    *,
    force: bool = False,
    settings: EngineSettings = DEFAULT_SETTINGS,
) -> Path:
    """Write ``out``: the tuned checkpoint with its delta sparsified in ``region``.

    ``amount`` is the drop rate p for ``dare`` and the kept percent k for ``ties``;
    ``settings``: device, chunk size, progress and shard size, as for restore.
    """
    fn = METHODS.get(method)
    path = check_out_dir(Path(out), force, inputs=[Path(base_dir), Path(tuned_dir)])
    pair = open_pair(base_dir, tuned_dir, region)
    with Engine.create("cpu", 1, False) as probe:
        fn(torch.zeros(1), torch.zeros(1), amount, 0, probe)  # validate amount
    plan = [(n, pair.tuned.dtype(n), pair.tuned.shape(n)) for n in pair.names]
    region_set = set(pair.region)
    get: Callable[[str], Any] = lambda n: (pair.base.get(n), pair.tuned.get(n))  # noqa: E731
    with settings.engine() as engine, atomic_dirs([path]) as (tmp,):
        writer = ShardedWriter(tmp, plan, settings.max_shard_bytes)
        for name, (b, t) in engine.fetch(pair.names, get, f"sparsify ({method})"):
            for _, (bb, tt) in engine.chunks(b, t):
                check_finite(name, bb, tt)
            res = fn(b, t, amount, tensor_salt(seed, name), engine) if name in region_set else t
            writer.write(name, res)
        writer.finish()
        copy_aux_files([Path(base_dir), Path(tuned_dir)], tmp)
    log.info("%s(%g) over %d tensors of '%s' -> %s", method, amount, len(pair.region), region, path)
    return path
