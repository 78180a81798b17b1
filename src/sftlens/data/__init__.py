"""Closed-book QA data: facts, relations, split presets, aliases and answer matching.

Example::

    from sftlens.data import load_dataset, get_matcher
    ds = load_dataset("entityquestions:../shared/data/entityquestions")
    print(get_matcher("contains")(" Paris, the capital", ds.facts[0].accepted))
"""

from sftlens.data.dataset import Dataset
from sftlens.data.loading import SOURCES, load_dataset, parse_spec
from sftlens.data.matching import (
    MATCHERS,
    answer_in_text,
    get_matcher,
    match_fact,
    normalize_light,
    normalize_squad,
    normalize_tokens,
)
from sftlens.data.records import Fact, Relation
from sftlens.data.splits import SPLIT_PRESETS, SplitPreset, get_split_preset

__all__ = [
    "MATCHERS",
    "SOURCES",
    "SPLIT_PRESETS",
    "Dataset",
    "Fact",
    "Relation",
    "SplitPreset",
    "answer_in_text",
    "get_matcher",
    "get_split_preset",
    "load_dataset",
    "match_fact",
    "normalize_light",
    "normalize_squad",
    "normalize_tokens",
    "parse_spec",
]
