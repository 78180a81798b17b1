"""Configs of the restoration stages (``restore``, ``restore-sweep``, ``diff-stats``).

No torch import here, so ``sftlens --help`` stays fast.

Example::

    sftlens restore --base runs/base --tuned runs/ft --out runs/r10 --k 10 --strategy top
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from sftlens.config import Seed, StageConfig
from sftlens.errors import SftlensError
from sftlens.registry import Registry, suggest

#: the paper's restoration percentages (k % of a region's elements); also diff-stats' top-% list
PAPER_KS: tuple[float, ...] = (1.0, 3.0, 5.0, 10.0, 20.0, 40.0, 60.0)
EPS = 1e-8  # the epsilon of r = |t-b|/(|b|+eps), the paper's (the one definition)

#: restore strategies: which k % of elements return to the base value (see ``exact_cut.py``)
STRATEGIES = Registry[str]("restore strategy")
for _name in ("top", "bottom", "random"):
    STRATEGIES.add(_name, _name)

#: dtype in which r is computed: float32, or the checkpoints' own (the paper's code)
R_DTYPES = ("float32", "model")


class PercentError(SftlensError, ValueError):
    """A percentage outside (0, 100]: a one-line user error, and a ValueError for pydantic."""


def check_k(k: float, what: str = "k") -> float:
    """``k`` as a float when it is a percentage in (0, 100], else :class:`PercentError`."""
    if not 0 < float(k) <= 100:
        raise PercentError(f"{what}={k} is outside (0, 100]")
    return float(k)


def _as_list(value: Any) -> Any:
    """Accept ``"1,3,5"`` (a CLI flag) as well as a YAML list."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (int, float)):
        return [value]
    return value


def check_strategy(name: str) -> str:
    """``name`` when it is a registered restore strategy, else ValueError with a suggestion."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy '{name}'{suggest(name, STRATEGIES.names())}")
    return name


class EngineConfig(StageConfig):
    """Settings shared by the streaming engine.

    Attributes:
        region: ``transformer | attention | mlp | embedding | all | layers=A-B`` or a glob.
        device: ``auto | cpu | cuda[:N]`` of the selection passes.
        seed: seed of the ``random`` strategy and of DARE's drops.
    """

    base: str = Field("", description="base checkpoint dir (safetensors shards)")
    tuned: str = Field("", description="fine-tuned checkpoint dir")
    region: str = "transformer"
    device: str = "auto"
    chunk_elems: int = Field(0, ge=0, le=2**31 - 1, description="0 = auto (2^25 CPU, 2^28 GPU)")
    seed: Seed = 0
    r_dtype: str = Field(
        "float32",
        description="dtype r is computed in: float32 (default) or model (the checkpoints' dtype, "
        "the paper's code: its ties at the threshold)",
    )

    r_eps: float = Field(
        EPS,
        gt=0,
        allow_inf_nan=False,
        description="epsilon of r = |t-b|/(|b|+r_eps); the paper's 1e-8 is the default. A "
        "larger one bounds r on near-zero base weights such as the exact zeros "
        "of a dequantized GGUF base",
    )

    @field_validator("r_dtype")
    @classmethod
    def _r_dtype_known(cls, v: str) -> str:
        if v not in R_DTYPES:
            raise ValueError(f"unknown r_dtype '{v}'{suggest(v, R_DTYPES)}")
        return v


class RestoreConfig(EngineConfig):
    """``sftlens restore``: one k, one strategy, one output checkpoint.

    Attributes:
        k: percent of the region's elements to restore, in (0, 100].
        strategy: ``top`` | ``bottom`` | ``random`` relative updates.
        max_shard_bytes: safetensors shard size of the written checkpoint.
    """

    k: float = 10.0
    strategy: str = "top"
    max_shard_bytes: int = Field(2_000_000_000, gt=0)

    @field_validator("k")
    @classmethod
    def _k_range(cls, v: float) -> float:
        return check_k(v)

    @field_validator("strategy")
    @classmethod
    def _strategy_known(cls, v: str) -> str:
        return check_strategy(v)


class SweepConfig(EngineConfig):
    """``sftlens restore-sweep``: several k (and strategies) from one set of statistics.

    With ``data`` and ``mastery`` every restored model is evaluated in memory
    (restore, evaluate, undo); without them one checkpoint per (strategy, k) is written.

    Attributes:
        ks: percents to restore, each in (0, 100].
        strategies: restore strategies (``top``, ``bottom``, ``random``).
        data: data spec of the evaluation (with ``mastery``).
        mastery: the base model's mastery table (with ``data``).
        split_preset: which relations are in-domain / out-of-domain.
        max_shard_bytes: safetensors shard size of the written checkpoints.
    """

    ks: list[float] = Field(default_factory=lambda: list(PAPER_KS))
    strategies: list[str] = Field(default_factory=lambda: ["top"])
    data: str | None = None
    mastery: str | None = None
    split_preset: str = "paper-2025"
    evaluation: dict[str, Any] = Field(default_factory=dict, description="EvaluateConfig keys")
    max_shard_bytes: int = Field(2_000_000_000, gt=0)

    @field_validator("ks", mode="before")
    @classmethod
    def _ks_list(cls, v: Any) -> Any:
        return _as_list(v)

    @field_validator("ks")
    @classmethod
    def _ks_range(cls, v: list[float]) -> list[float]:
        if not v:
            raise ValueError("give at least one k")
        repeated = sorted({k for k in v if v.count(k) > 1})
        if repeated:
            raise ValueError(f"k values repeated: {', '.join(f'{k:g}' for k in repeated)}")
        return sorted(check_k(k) for k in v)

    @field_validator("strategies", mode="before")
    @classmethod
    def _strategies_list(cls, v: Any) -> Any:
        return _as_list(v)

    @field_validator("strategies")
    @classmethod
    def _strategies_known(cls, v: list[str]) -> list[str]:
        return [check_strategy(s) for s in v]


class SparsifyConfig(EngineConfig):
    """``sftlens sparsify``: DARE (drop rate ``amount``) or TIES trim (keep ``amount`` %).

    Attributes:
        method: ``dare`` | ``ties``.
        amount: ``dare``: drop rate p in [0, 1); ``ties``: kept percent k in (0, 100].
        max_shard_bytes: safetensors shard size of the written checkpoint.
    """

    method: str = "dare"
    amount: float = 0.9
    max_shard_bytes: int = Field(2_000_000_000, gt=0)

    @model_validator(mode="after")
    def _amount_fits_method(self) -> SparsifyConfig:
        if self.method == "dare" and not 0 <= self.amount < 1:
            raise ValueError(f"amount={self.amount}: DARE's drop rate p must be in [0, 1)")
        if self.method == "ties":
            check_k(self.amount, "amount (TIES keep percentage k)")
        return self


class DiffStatsConfig(EngineConfig):
    """``sftlens diff-stats``: concentration curve and where the updates fall.

    Attributes:
        top_pcts: top percents whose share of the total relative update is reported.
        location_ks: top percents whose layer / module locations are reported.
        plot: also write the figures.
    """

    top_pcts: list[float] = Field(default_factory=lambda: list(PAPER_KS))
    location_ks: list[float] = Field(default_factory=lambda: [1.0, 10.0])
    plot: bool = True

    @field_validator("top_pcts", "location_ks", mode="before")
    @classmethod
    def _pct_list(cls, v: Any) -> Any:
        return _as_list(v)

    @field_validator("top_pcts", "location_ks")
    @classmethod
    def _pct_range(cls, v: list[float]) -> list[float]:
        return sorted({check_k(k) for k in v})
