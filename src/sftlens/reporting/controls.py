"""The study's controls beside the grid (``results/controls.parquet``), reported apart.

Example::

    table = controls_table(run_dir, test_set="test", domain="in")
    # control | train_level | size | grid lr/epochs | control | grid | largest grid size

A row per (control, training level, size): macro accuracy of the control's fine-tunes
(mean ± spread over seeds) beside the grid's same cell and the grid's largest size. The
findings never read this table (:mod:`sftlens.study.controls`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sftlens.reporting import tables
from sftlens.tableio import read_table


def load_controls(run_dir: Path) -> pd.DataFrame | None:
    """``results/controls.parquet`` of a study run, or None when it ran no control."""
    path = Path(run_dir) / "results" / "controls.parquet"
    return pd.DataFrame(read_table(path)) if path.is_file() else None


def _cell_stats(acc: pd.DataFrame, test_set: str, domain: str) -> pd.DataFrame:
    rows = acc[(acc["test_set"] == test_set) & (acc["domain"] == domain)]
    return tables.accuracy_vs_size(rows).set_index(["train_level", "size"])


def controls_table(
    controls: pd.DataFrame, acc: pd.DataFrame, test_set: str, domain: str
) -> pd.DataFrame:
    """Control vs grid macro accuracy (points, mean ± spread over seeds) per level and size."""
    grid = _cell_stats(tables.plain(acc), test_set, domain)
    largest = int(tables.plain(acc)["size"].max())
    out = []
    for name, group in controls.groupby("control", sort=True):
        stats = _cell_stats(group, test_set, domain)
        settings = group.iloc[0]
        for (level, size), row in stats.iterrows():
            ref = grid.loc[(level, size)] if (level, size) in grid.index else None
            big = grid.loc[(level, largest)] if (level, largest) in grid.index else None
            out.append(
                {
                    "control": name,
                    "train_level": level,
                    "size": size,
                    "lr / epochs": f"{float(settings['lr']):g} / {int(settings['epochs'])}",
                    f"control ({domain})": tables.fmt(row["mean"], row["spread"]),
                    "grid, same cell": "–"
                    if ref is None
                    else tables.fmt(ref["mean"], ref["spread"]),
                    f"grid, n={largest}": "–"
                    if big is None
                    else tables.fmt(big["mean"], big["spread"]),
                }
            )
    return pd.DataFrame(out)
