"""The report's figures as PNG files (matplotlib, Agg backend; headless).

Example::

    accuracy_vs_size(accuracy_vs_size_table, Path("runs/demo/report/fig_accuracy.png"))
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from sftlens.runstore import atomic_path

DOMAIN_TITLE = {"in": "in-domain", "ood": "out-of-domain"}


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path


def _lines(
    ax: plt.Axes, df: pd.DataFrame, x: str, group: str, label: str, scale: float = 100.0
) -> None:
    for key, part in df.groupby(group, sort=True):
        part = part.sort_values(x)
        ax.errorbar(part[x], part["mean"] * scale, yerr=part["spread"] * scale, marker="o", capsize=3,
                    label=f"{label}{key}")  # fmt: skip


def accuracy_vs_size(stats: pd.DataFrame, path: Path, base: dict[str, float] | None = None) -> Path:
    """Fig. 2: accuracy against SFT size, one line per training level; a panel per domain.

    ``base`` (domain → macro accuracy of the base model) adds a dashed reference line.
    """
    domains = sorted(stats["domain"].unique())
    fig, axes = plt.subplots(1, len(domains), figsize=(5 * len(domains), 3.6), squeeze=False)
    for ax, domain in zip(axes[0], domains, strict=True):
        _lines(ax, stats[stats["domain"] == domain], "size", "train_level", "train L")
        if base and domain in base:
            ax.axhline(base[domain] * 100, color="grey", linestyle="--", label="base model")
        ax.set(
            xscale="log",
            xlabel="SFT size",
            ylabel="accuracy (%)",
            title=DOMAIN_TITLE.get(domain, domain),
        )
        ax.legend(fontsize=8)
    return _save(fig, path)


def kl_and_level4(kl: pd.DataFrame | None, level4: pd.DataFrame, path: Path) -> Path:
    """Fig. 5 beside Fig. 4: KL against size, and test-level-4 accuracy against size."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    if kl is not None and not kl.empty:
        _lines(axes[0], kl, "size", "train_level", "train L", scale=1.0)
        axes[0].legend(fontsize=8)
    axes[0].set(xscale="log", xlabel="SFT size", ylabel="KL (top-10)", title="token KL vs base")
    _lines(axes[1], level4, "size", "train_level", "train L")
    axes[1].set(
        xscale="log", xlabel="SFT size", ylabel="accuracy (%)", title="test level 4 (in-domain)"
    )
    axes[1].legend(fontsize=8)
    return _save(fig, path)


def restore_curves(curves: pd.DataFrame, path: Path) -> Path:
    """Accuracy against the restored share k (k=0 = plain fine-tune), per training level."""
    keys = sorted(
        {
            (s, r, d)
            for s, r, d in zip(curves["strategy"], curves["region"], curves["domain"], strict=True)
        }
    )
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.6), squeeze=False)
    for ax, (strategy, region, domain) in zip(axes[0], keys, strict=True):
        part = curves[
            (curves["strategy"] == strategy)
            & (curves["region"] == region)
            & (curves["domain"] == domain)
        ]
        _lines(ax, part, "restore_k", "train_level", "train L")
        ax.set(
            xlabel="k (% restored)",
            ylabel="accuracy (%)",
            title=f"{strategy} / {region} / {DOMAIN_TITLE.get(domain, domain)}",
        )
        ax.legend(fontsize=8)
    return _save(fig, path)


def group_bars(layers: pd.DataFrame, modules: pd.DataFrame, path: Path) -> Path:
    """Tables 9–10 as bars: mean relative update per layer and per module."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, df, title in ((axes[0], layers, "per layer"), (axes[1], modules, "per module")):
        if not df.empty:
            order = sorted(df["group"], key=lambda g: (len(g), g))
            df = df.set_index("group").loc[order]
            ax.bar(range(len(df)), df["mean"], yerr=df["spread"], capsize=2)
            ax.set_xticks(range(len(df)), df.index, rotation=60, fontsize=7)
        ax.set(title=title, ylabel="relative update")
    return _save(fig, path)


def mastery_vs_exposure(stats: pd.DataFrame, path: Path) -> Path:
    """Probing score R against exposure: a world's pretraining mentions or a real source's
    popularity (quantile bins of it, :func:`sftlens.reporting.tables.mastery_vs_exposure`)."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    stats = stats.sort_values("exposure")
    ax.errorbar(stats["exposure"], stats["mean"], yerr=stats["spread"], marker="o", capsize=3)
    ax.set(
        xlabel="exposure (mentions; popularity)", ylabel="mastery R", title="mastery vs exposure"
    )
    if stats["exposure"].max() > 20 * max(1, stats["exposure"].min()):
        ax.set_xscale("symlog")
    return _save(fig, path)
