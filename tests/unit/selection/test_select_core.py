"""Selection core: balance, determinism, nesting, pool filtering, errors."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sftlens.data.records import Fact
from sftlens.errors import ConfigError, DataError
from sftlens.selection import parse_level, select_set, set_name, water_fill

IN_RELS = ("P17", "P19", "P20", "P36")


def make_facts(
    per_rel: dict[str, int], split: str = "train", domain: str = "in", role: str = "pool"
) -> list[Fact]:
    out = []
    for rel, n in per_rel.items():
        for i in range(n):
            out.append(
                Fact(
                    id=f"{rel}/{split}/{domain}/{role}/{i}",
                    relation=rel,
                    subject=f"s{i}",
                    question=f"q {rel} {i}?",
                    answers=(f"a{i}",),
                    domain=domain,  # type: ignore[arg-type]
                    split=split,  # type: ignore[arg-type]
                    role=role,
                )
            )
    return out


@pytest.fixture()
def world() -> tuple[list[Fact], dict[str, int]]:
    facts = make_facts({"P17": 40, "P19": 40, "P20": 7, "P36": 40})
    facts += make_facts({"P17": 30}, split="test")
    facts += make_facts({"P50": 30}, domain="ood")
    facts += make_facts({"P19": 30}, role="pretrain_qa")
    levels = {f.id: i % 5 for i, f in enumerate(facts)}
    return facts, levels


def test_balanced_over_relations_as_pool_allows(world):
    facts, levels = world
    levels = {k: 0 for k in levels}
    chosen = select_set(facts, levels, "0", 60, seed=0)
    counts = Counter(f.relation for f in chosen)
    assert len(chosen) == 60
    assert counts["P20"] == 7  # exhausted, the rest spread evenly
    others = [counts[r] for r in ("P17", "P19", "P36")]
    assert max(others) - min(others) <= 1 and sum(others) == 53


def test_only_in_domain_train_pool_facts(world):
    facts, levels = world
    chosen = select_set(facts, levels, "random", None, seed=1)
    assert chosen
    assert all(f.domain == "in" and f.split == "train" and f.role != "pretrain_qa" for f in chosen)
    test_ids = {f.id for f in facts if f.split == "test"}
    assert not test_ids & {f.id for f in chosen}


def test_levels_filter_and_mix_balance(world):
    facts, levels = world
    single = select_set(facts, levels, "3", None, seed=0)
    assert single and {levels[f.id] for f in single} == {3}
    mix = select_set(facts, levels, "0+4", 20, seed=0)
    by_level = Counter(levels[f.id] for f in mix)
    assert set(by_level) == {0, 4} and abs(by_level[0] - by_level[4]) <= len(IN_RELS)


def test_deterministic_and_seed_dependent(world):
    facts, levels = world
    a = select_set(facts, levels, "random", 30, seed=2)
    b = select_set(list(reversed(facts)), levels, "random", 30, seed=2)
    c = select_set(facts, levels, "random", 30, seed=3)
    assert [f.id for f in a] == [f.id for f in b]
    assert {f.id for f in a} != {f.id for f in c}


def test_smaller_set_is_subset_of_larger(world):
    facts, levels = world
    small = {f.id for f in select_set(facts, levels, "random", 20, seed=0)}
    large = {f.id for f in select_set(facts, levels, "random", 60, seed=0)}
    assert small < large


def test_size_beyond_pool_names_pool_size(world):
    facts, levels = world
    pool = len(select_set(facts, levels, "1", None, seed=0))
    with pytest.raises(DataError, match=f"pool holds {pool} "):
        select_set(facts, levels, "1", pool + 1, seed=0)
    assert len(select_set(facts, levels, "1", pool + 1, seed=0, allow_smaller=True)) == pool


def test_bad_level_spec():
    with pytest.raises(ConfigError):
        parse_level("5")
    with pytest.raises(ConfigError):
        parse_level("x+1")
    assert parse_level("1+0") == (0, 1)
    assert set_name("0+1", "all", 2) == "L0+1-nall-s2"


@settings(max_examples=60, deadline=None)
@given(
    caps=st.lists(st.integers(0, 12), min_size=1, max_size=6),
    data=st.data(),
)
def test_water_fill_properties(caps, data):
    total = data.draw(st.integers(0, sum(caps)))
    prio = data.draw(st.permutations(range(len(caps))))
    counts = water_fill(caps, total, prio)
    assert sum(counts) == total
    assert all(0 <= c <= cap for c, cap in zip(counts, caps, strict=True))
    # balanced: a group below another's count is full
    for i, c in enumerate(counts):
        assert all(c >= d - 1 or c == caps[i] for d in counts)
    if total < sum(caps):  # monotone in total (nested sets)
        more = water_fill(caps, total + 1, prio)
        assert all(m >= c for m, c in zip(more, counts, strict=True))


def test_check_pools_names_level_size_and_pool(world):
    from sftlens.selection.core import check_pools, pool_of

    facts, levels = world
    n3 = len(pool_of(facts, levels, "3"))
    check_pools(facts, levels, [("3", n3), ("0", "all"), ("0", None)])  # fits
    with pytest.raises(DataError) as err:
        check_pools(facts, levels, [("0", 1), ("3", 5), ("3", n3 + 1)])
    assert str(err.value).startswith(f"level 3, size {n3 + 1}: the level's pool holds only {n3} ")
    smallest = min(n3, len(pool_of(facts, levels, "0")))
    fit = sorted(s for s in {1, 5, n3 + 1} if s <= smallest)
    assert f"the sizes every level's pool holds: {fit})" in str(err.value)  # what would run
