"""Checkpoint I/O of the restoration engine: sources, the device cache, the sharded writer.

Example::

    from sftlens.restoration.io import source_from_dir, ShardedWriter
"""

from sftlens.restoration.io.cache import CacheBudget, CachedSource
from sftlens.restoration.io.sources import (
    DictSource,
    DirSource,
    TensorSource,
    natural_key,
    source_from_dir,
    source_from_model,
)
from sftlens.restoration.io.writer import ShardedWriter, atomic_dirs, copy_aux_files

__all__ = [
    "CacheBudget",
    "CachedSource",
    "DictSource",
    "DirSource",
    "ShardedWriter",
    "TensorSource",
    "atomic_dirs",
    "copy_aux_files",
    "natural_key",
    "source_from_dir",
    "source_from_model",
]
