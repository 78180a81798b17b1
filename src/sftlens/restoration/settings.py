"""The restore engine's options in one frozen object, built once per stage run.

Example::

    settings = EngineSettings(device="cpu", chunk_elems=1 << 20, progress=False)
    restore_many("runs/base", "runs/ft", {10: "runs/ft-r10"}, settings=settings)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sftlens.restoration.engine_stats import RestoreStats
from sftlens.restoration.exact_cut import EPS, check_r_dtype
from sftlens.restoration.streaming import CANDIDATE_BYTES, Engine


@dataclass(frozen=True)
class EngineSettings:
    """Where and how the restore passes run.

    ``chunk_elems`` 0 picks a size for the device; ``candidate_bytes`` bounds the
    threshold-bin elements held during a restore pass (beyond it: one extra
    refinement pass); ``device_cache`` (``None``: on for CUDA) keeps what pass 2
    needs on the GPU after pass 1; ``r_dtype`` is ``float32`` or ``model``; ``r_eps`` is
    the epsilon of r's denominator (paper: 1e-8).
    """

    device: str = "auto"
    chunk_elems: int = 0
    progress: bool = True
    candidate_bytes: int = CANDIDATE_BYTES
    r_dtype: str = "float32"
    r_eps: float = EPS
    max_shard_bytes: int = 2_000_000_000
    device_cache: bool | None = None

    def __post_init__(self) -> None:
        check_r_dtype(self.r_dtype)

    @classmethod
    def from_config(cls, cfg: Any) -> EngineSettings:
        """The settings a stage config names (``device``, ``chunk_elems``, ``r_dtype``, ...)."""
        return cls(
            device=cfg.device,
            chunk_elems=cfg.chunk_elems,
            r_dtype=cfg.r_dtype,
            r_eps=cfg.r_eps,
            max_shard_bytes=getattr(cfg, "max_shard_bytes", cls.max_shard_bytes),
        )

    def engine(self, stats: RestoreStats | None = None) -> Engine:
        """A new :class:`Engine` with these settings that counts into ``stats``."""
        return Engine.create(
            self.device,
            self.chunk_elems,
            self.progress,
            self.candidate_bytes,
            stats=stats,
            r_dtype=self.r_dtype,
            r_eps=self.r_eps,
        )


DEFAULT_SETTINGS = EngineSettings()
"""The defaults: device ``auto``, chunk size per device, progress bars, float32 r."""
