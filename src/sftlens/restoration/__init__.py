"""Parameter-level analysis: relative-update statistics and exact global k% restoration.

Streams safetensors checkpoints tensor by tensor; never builds a flat array of
the model.  See docs/restoration.md.

Example::

    from sftlens.restoration import restore_checkpoint
    restore_checkpoint("runs/base", "runs/ft", "runs/ft-r10", k=10, strategy="top")
"""

from sftlens.restoration.config import EPS, PAPER_KS, STRATEGIES, check_k, check_strategy
from sftlens.restoration.io import (
    DictSource,
    DirSource,
    TensorSource,
    source_from_dir,
    source_from_model,
)
from sftlens.restoration.regions import predicate as region_predicate
from sftlens.restoration.restore import Restored, RestoreStats, restore_checkpoint, restore_many
from sftlens.restoration.settings import EngineSettings
from sftlens.restoration.sparsify import sparsify_checkpoint
from sftlens.restoration.stats import DiffStats, diff_stats
from sftlens.restoration.sweep import sweep_evaluate, sweep_inplace

__all__ = [
    "EPS",
    "PAPER_KS",
    "STRATEGIES",
    "DictSource",
    "DiffStats",
    "DirSource",
    "EngineSettings",
    "RestoreStats",
    "Restored",
    "TensorSource",
    "check_k",
    "check_strategy",
    "diff_stats",
    "region_predicate",
    "restore_checkpoint",
    "restore_many",
    "source_from_dir",
    "source_from_model",
    "sparsify_checkpoint",
    "sweep_evaluate",
    "sweep_inplace",
]
