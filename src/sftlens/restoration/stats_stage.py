"""CLI entry of ``sftlens diff-stats``: where and how much fine-tuning moved the weights.

Writes the concentration table (share of the total relative update held by the top p%), per
tensor / layer / module statistics, ``diff_stats.json`` and a concentration plot.

Example::

    sftlens diff-stats --base runs/base --tuned runs/ft --out runs/stats
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftlens.config import dump_config
from sftlens.outdir import check_out_dir, input_paths, staged_out_dir
from sftlens.restoration.config import DiffStatsConfig
from sftlens.restoration.stage import _need_inputs
from sftlens.runstore import atomic_path, atomic_write_json
from sftlens.tableio import write_table


@dataclass
class DiffStatsResult:
    out: Path
    text: str

    def summary(self) -> str:
        return f"{self.text}\nwritten to {self.out}"


def run_diff_stats(cfg: DiffStatsConfig, out: Path, *, force: bool = False) -> DiffStatsResult:
    """``sftlens diff-stats``: concentration curve and per tensor/layer/module tables."""
    from sftlens.restoration.io import source_from_dir
    from sftlens.restoration.settings import EngineSettings
    from sftlens.restoration.stats import diff_stats

    cfg, sources = _need_inputs(cfg)
    inputs = input_paths(cfg)
    out = check_out_dir(Path(out), force, inputs=inputs)
    stats = diff_stats(
        source_from_dir(cfg.base),
        source_from_dir(cfg.tuned),
        cfg.region,
        top_pcts=cfg.top_pcts,
        location_ks=cfg.location_ks,
        settings=EngineSettings.from_config(cfg),
    )
    with staged_out_dir(out, force, inputs) as tmp:
        write_table(tmp / "concentration.csv", stats.rows())
        write_table(tmp / "tensors.csv", stats.tensor_rows())
        write_table(tmp / "layers.csv", stats.layer_rows())
        write_table(tmp / "modules.csv", stats.module_rows())
        atomic_write_json(
            tmp / "diff_stats.json",
            {
                "config": dump_config(cfg),
                "sources": sources,
                "n": stats.n,
                "total_r": stats.total_r,
                "concentration": stats.rows(),
                "zero_base_top": stats.zero_base_rows(),
                "near_zero_share": stats.near_zero_share,
            },
        )
        if cfg.plot:
            _plot(stats.rows(), tmp / "concentration.png")
    return DiffStatsResult(out, stats.summary())


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot([r["top_pct"] for r in rows], [100 * r["share"] for r in rows], marker="o")
    ax.set_xlabel("top k% of elements by r")
    ax.set_ylabel("share of total r (%)")
    ax.set_title("Concentration of relative updates")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
