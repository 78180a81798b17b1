"""What a restoration engine did: read passes, bytes, device cache, threshold-bin work, cuts.

Example::

    stats = RestoreStats()
    restore_checkpoint(base, tuned, out, 10, "top", "transformer", 0, stats=stats)
    stats.as_dict()   # {"read_passes": 2, "bytes_read": ..., "passes": [...]}
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from sftlens.restoration.exact_cut import Cut

NEAR_ZERO_WARN_SHARE = 0.1  # share of Σr on |b| <= r_eps above which stages warn


@dataclass
class RestoreStats:
    """What the engine did (the one stats object: an :class:`Engine` counts into it).

    ``passes`` holds one description per streaming read pass over the checkpoints
    (2 normally: histogram, restore; 3 when a threshold bin had to be refined).
    A restore adds the bytes read, the device cache, the cuts and the region size.
    """

    passes: list[str] = field(default_factory=list)
    pass_seconds: list[float] = field(default_factory=list)  # wall time of each pass
    bytes_read: int = 0  # from the checkpoint dirs
    device_cached_bytes: int = 0  # kept on the GPU from pass 1 for pass 2
    bytes_patched: int = 0  # rewritten in the outputs to patch in threshold-bin elements
    candidates: int = 0  # threshold-bin elements held at once (peak)
    candidate_nbytes: int = 0
    refined_bins: int = 0  # bins resolved by the fallback refinement pass
    patch_seconds: float = 0.0  # resolving threshold bins and patching them in, after a pass
    cuts: dict[float, Cut] = field(default_factory=dict)
    n: int = 0  # elements in the region
    near_zero_share: float = 0.0  # share of Σr on base weights with |b| <= r_eps (pass 1)

    @property
    def read_passes(self) -> int:
        return len(self.passes)

    def as_dict(self) -> dict[str, Any]:
        """The counts as JSON-ready values (without the cuts and the region size)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("cuts", "n")}
        out["pass_seconds"] = [round(x, 3) for x in self.pass_seconds]
        return {"read_passes": self.read_passes, **out, "passes": list(self.passes)}


def near_zero_warning(share: float, eps: float) -> str | None:
    """A line when near-zero base weights hold at least NEAR_ZERO_WARN_SHARE of Σr."""
    if not share >= NEAR_ZERO_WARN_SHARE:
        return None
    return (
        f"warning: {share:.1%} of the relative-update mass Σr sits on near-zero base weights "
        f"(|b| <= r_eps = {eps:g}), where r = |Δ|/(|b|+r_eps) explodes (e.g. exact zeros of a "
        "dequantized or zero-initialised base); they dominate the ranking. The paper's r_eps "
        "1e-8 is kept; a larger r_eps bounds r there, but moves them down the ranking only "
        "when it nears the size of their updates"
    )
