"""Statistics of relative updates: concentration curve, mean r and where the top k% fall.

One streaming pass (no flat array) collects the 65,536-bin histogram of r's
float32 bits over the region, the sum of r per bin and per tensor, and one
histogram per tensor.  The concentration ``share(p)`` = share of Σr held by the
top p% of elements (paper Table 3) and the per-layer/per-module location of the
top k% (Tables 9-10) are exact except inside the single bin that holds the
threshold, which is apportioned pro rata (a bin spans 2^-8 relative width of r).

Example::

    stats = diff_stats(source_from_dir("runs/base"), source_from_dir("runs/ft"), "transformer")
    for row in stats.rows(): print(row)   # {"top_pct": 1.0, "share": 0.706}
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from sftlens.architecture import Layout
from sftlens.restoration.config import PAPER_KS
from sftlens.restoration.engine_stats import near_zero_warning
from sftlens.restoration.exact_cut import EPS, find_bin, select_count
from sftlens.restoration.io.sources import TensorSource
from sftlens.restoration.regions import name_map, split_layer
from sftlens.restoration.settings import DEFAULT_SETTINGS, EngineSettings
from sftlens.restoration.streaming import Pair, PassStats, check_pair, histogram_pass

log = logging.getLogger(__name__)


@dataclass
class DiffStats:
    """Relative-update statistics of one (base, tuned) pair over a region."""

    region: str
    n: int
    total_r: float
    concentration: list[tuple[float, float]]  # (top_pct, share of Σr)
    tensors: list[dict[str, Any]]  # name, layer, module, numel, sum_r, mean_r, sel_k<k>
    location_ks: list[float] = field(default_factory=list)
    zero_base: list[tuple[float, int, float]] = field(default_factory=list)  # (pct, top n, base 0)
    near_zero_share: float = 0.0  # share of Σr on base weights with |b| <= r_eps
    r_eps: float = EPS

    def zero_base_rows(self) -> list[dict[str, Any]]:
        """How many of the top p% elements have a base value of exactly 0 (r = |t| / 1e-8)."""
        return [
            {"top_pct": p, "n": n, "zero_base": round(z), "zero_base_share": z / max(n, 1)}
            for p, n, z in self.zero_base
        ]

    def zero_base_warning(self) -> str | None:
        """A line when near-zero base weights hold a large share of Σr (they dominate the ranking)."""
        return near_zero_warning(self.near_zero_share, self.r_eps)

    def rows(self) -> list[dict[str, Any]]:
        """The concentration curve as table rows ``{top_pct, share}``."""
        return [{"top_pct": p, "share": s} for p, s in self.concentration]

    def tensor_rows(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.tensors]

    def _group(self, key: str) -> list[dict[str, Any]]:
        acc: dict[Any, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for trow in self.tensors:
            g = acc[trow[key]]
            for col in ("numel", "sum_r", *(f"sel_k{k:g}" for k in self.location_ks)):
                g[col] += trow[col]
        out = []
        for value, g in sorted(acc.items(), key=lambda kv: (kv[0] is None, str(kv[0]).zfill(6))):
            row: dict[str, Any] = {
                key: value,
                "numel": int(g["numel"]),
                "mean_r": g["sum_r"] / max(g["numel"], 1),
            }
            for k in self.location_ks:
                sel = g[f"sel_k{k:g}"]
                row[f"sel_k{k:g}"] = sel
                row[f"share_sel_k{k:g}"] = sel / max(select_count(self.n, k), 1)
                row[f"frac_restored_k{k:g}"] = sel / max(g["numel"], 1)
            out.append(row)
        return out

    def layer_rows(self) -> list[dict[str, Any]]:
        """Mean r and location of the top k% per layer (Table 9)."""
        return self._group("layer")

    def module_rows(self) -> list[dict[str, Any]]:
        """Mean r and location of the top k% per module type, e.g. ``mlp.down_proj`` (Table 10)."""
        return self._group("module")

    def summary(self) -> str:
        curve = ", ".join(f"top {p:g}% -> {s:.1%}" for p, s in self.concentration)
        text = f"{self.n:,} elements in '{self.region}', mean r {self.total_r / max(self.n, 1):.4g}; {curve}"
        warning = self.zero_base_warning()
        return f"{text}\n{warning}" if warning else text


def _partial(hist: torch.Tensor, b: int, above_total: int, need: int, per: torch.Tensor) -> float:
    """Σ ``per`` over bins above ``b`` plus the pro-rata part of bin ``b``."""
    whole = float(per[b + 1 :].sum())
    in_bin = int(hist[b])
    return whole + (float(per[b]) * (need - above_total) / in_bin if in_bin else 0.0)


def _tensor_rows(
    pair: Pair, st: PassStats, nm: Layout, location_ks: Sequence[float]
) -> list[dict[str, Any]]:
    """Per tensor of the region: layer, module, size, sum and mean r, and the share of the
    top-k% elements (``sel_k<k>``) it holds, for each k of ``location_ks``."""
    hist = st.hist
    rows = []
    for name in pair.region:
        layer, module = split_layer(name, nm)
        numel = pair.numel(name)
        row: dict[str, Any] = {"name": name, "layer": layer, "module": module, "numel": numel}
        row["sum_r"] = st.sum_r[name]
        row["mean_r"] = st.sum_r[name] / max(numel, 1)
        rows.append(row)
    for k in location_ks:
        need = select_count(pair.n, k)
        b, above = find_bin(hist, need) if need else (len(hist) - 1, 0)
        for row in rows:
            th = st.tensor_hists[row["name"]].double()
            row[f"sel_k{k:g}"] = _partial(hist, b, above, need, th) if need else 0.0
    return rows


def diff_stats(
    base: TensorSource,
    tuned: TensorSource,
    region: str = "transformer",
    *,
    top_pcts: Sequence[float] = PAPER_KS,
    location_ks: Sequence[float] = (1.0, 10.0),
    settings: EngineSettings = DEFAULT_SETTINGS,
) -> DiffStats:
    """Concentration curve, mean r per tensor and the top-k% location, in one pass
    (``settings``: device, chunk size, progress, r's dtype and epsilon, as for restore)."""
    pair = check_pair(base, tuned, region)
    with settings.engine() as engine:
        st = histogram_pass(pair, "top", 0, engine, check_all=False, per_tensor=True)
    assert st.bin_sum_r is not None
    hist, bin_sum = st.hist, st.bin_sum_r.cpu()
    total = float(bin_sum.sum())
    curve = []
    zero_base: list[tuple[float, int, float]] = []
    assert st.zero_base_hist is not None
    zero_hist = st.zero_base_hist.double()
    for p in top_pcts:
        need = select_count(pair.n, p)
        if need == 0:
            curve.append((float(p), 0.0))
            continue
        b, above = find_bin(hist, need)
        curve.append((float(p), _partial(hist, b, above, need, bin_sum) / total if total else 0.0))
        zero_base.append((float(p), need, _partial(hist, b, above, need, zero_hist)))
    rows = _tensor_rows(pair, st, name_map(tuned.arch or base.arch, pair.names), location_ks)
    stats = DiffStats(
        region, pair.n, total, curve, rows, [float(k) for k in location_ks], zero_base,
        st.near_zero_share(), settings.r_eps,
    )  # fmt: skip
    if stats.zero_base_warning():
        log.warning("%s", stats.zero_base_warning())
    return stats
