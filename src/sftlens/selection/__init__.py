"""Selection of SFT training sets by mastery level × size × seed.

Example::

    from sftlens.selection import select_set
    train = select_set(dataset.facts, levels, level="0+1", size=240, seed=0)
"""

from sftlens.selection.config import SelectConfig, SelectSettings
from sftlens.selection.core import (
    check_pools,
    parse_level,
    pool_of,
    select_set,
    set_name,
    set_row,
    water_fill,
)

__all__ = [
    "SelectConfig", "SelectSettings", "check_pools", "parse_level", "pool_of", "select_set",
    "set_name", "set_row", "water_fill",
]  # fmt: skip
