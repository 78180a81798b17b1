"""Pure selection of SFT sets: a set is a function of (facts, levels, level spec, size, seed).

Example::

    train = select_set(dataset.facts, levels, level="0", size=240, seed=1)
    mixed = select_set(dataset.facts, levels, level="random", size=None, seed=0)  # whole pool

The pool is the in-domain train facts that have a mastery level and are not
pretraining-QA facts of a knowledge world.  Samples are spread over relations
as evenly as the pool allows (water-filling: every relation gets the same count
unless it runs out, and the rest goes to the relations that still have facts);
inside a mix (``"0+1"``) each relation's share is spread over the mixed levels
the same way.  ``"random"`` (the paper's SFT (Mixed)) takes any level.  For one
seed, the set of a smaller size is a subset of the set of a larger size.
No I/O happens here.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from sftlens.data.records import Fact
from sftlens.errors import ConfigError, DataError

ALL_LEVELS = (0, 1, 2, 3, 4)


def parse_level(level: str) -> tuple[int, ...]:
    """``"2"`` → (2,), ``"0+1"`` → (0, 1), ``"random"`` → all five levels."""
    text = str(level).strip()
    if text == "random":
        return ALL_LEVELS
    try:
        parts = tuple(sorted({int(p) for p in text.split("+")}))
    except ValueError:
        raise ConfigError(f"level '{level}' is not 0..4, a mix like 0+1, or 'random'") from None
    if not parts or any(p not in ALL_LEVELS for p in parts):
        raise ConfigError(f"level '{level}' is not 0..4, a mix like 0+1, or 'random'")
    return parts


def set_name(level: str, size: int | str | None, seed: int) -> str:
    """File stem of a set: ``L<level>-n<size>-s<seed>`` (size ``all`` for the whole pool)."""
    return f"L{level}-n{'all' if size in (None, 'all') else size}-s{seed}"


def eligible(fact: Fact, levels: Mapping[str, int]) -> bool:
    """In-domain train fact with a mastery level, not a world's pretraining-QA fact."""
    return (
        fact.domain == "in"
        and fact.split == "train"
        and fact.role != "pretrain_qa"
        and fact.id in levels
    )


def pool_of(facts: Sequence[Fact], levels: Mapping[str, int], level: str) -> list[Fact]:
    """The facts ``select_set`` may draw from for ``level``, in input order."""
    wanted = set(parse_level(level))
    return [f for f in facts if eligible(f, levels) and int(levels[f.id]) in wanted]


def check_pools(
    facts: Sequence[Fact], levels: Mapping[str, int], wanted: Iterable[tuple[str, int | str | None]]
) -> None:
    """Raise a one-line ``DataError`` when a level's pool cannot hold its largest wanted size.

    ``wanted`` holds ``(level, size)`` pairs (a study grid); ``None``/``"all"`` sizes always fit.
    Run it before any set is drawn, so a grid too big for its pools fails before training.
    """
    largest: dict[str, int] = {}
    for level, size in wanted:
        if isinstance(size, int):
            largest[level] = max(size, largest.get(level, 0))
    pools = {level: len(pool_of(facts, levels, level)) for level in largest}
    for level, size in largest.items():
        if size > pools[level]:
            smallest = min(pools.values())
            fit = sorted({s for _, s in wanted if isinstance(s, int) and s <= smallest})
            held = (
                f"the sizes every level's pool holds: {fit}" if fit else "no size fits every pool"
            )
            raise DataError(
                f"level {level}, size {size}: the level's pool holds only {pools[level]} in-domain "
                f"train facts; lower the sizes ({held}) or allow smaller sets (select.allow_smaller)"
            )


def water_fill(capacities: Sequence[int], total: int, priority: Sequence[int]) -> list[int]:
    """Spread ``total`` over groups as evenly as their capacities allow.

    Every group gets ``min(capacity, t)`` for the largest fitting ``t``; the few left
    over go one each to the groups with room, in ``priority`` order.
    """
    counts = [0] * len(capacities)
    left = total
    open_ = [i for i in priority if capacities[i] > 0]
    while left > 0 and open_:
        share = left // len(open_)
        if share == 0:
            for i in open_[:left]:
                counts[i] += 1
            break
        for i in open_:
            take = min(share, capacities[i] - counts[i])
            counts[i] += take
            left -= take
        open_ = [i for i in open_ if counts[i] < capacities[i]]
    return counts


def _draw(groups: dict[object, list[Fact]], n: int, rng: random.Random) -> list[Fact]:
    """Shuffle each group, water-fill ``n`` over them, return the heads (nested in ``n``)."""
    keys = sorted(groups, key=str)
    for key in keys:
        rng.shuffle(groups[key])
    priority = list(range(len(keys)))
    rng.shuffle(priority)
    counts = water_fill([len(groups[k]) for k in keys], n, priority)
    return [f for key, c in zip(keys, counts, strict=True) for f in groups[key][:c]]


def _set_size(pool: int, level: str, size: int | None, allow_smaller: bool) -> int:
    """How many facts the set takes from a pool of ``pool`` (``None``: all of them)."""
    if size is not None and size <= 0:
        raise ConfigError(f"set size must be positive, got {size}")
    n = pool if size is None else size
    if n > pool and not allow_smaller:
        raise DataError(
            f"level {level}: the pool holds {pool} in-domain train facts, "
            f"cannot select {n} (pass --allow-smaller to take all {pool})"
        )
    return min(n, pool)


def select_set(
    facts: Sequence[Fact],
    levels: Mapping[str, int],
    level: str,
    size: int | None,
    seed: int,
    allow_smaller: bool = False,
) -> list[Fact]:
    """Select one SFT set, balanced over relations (and over the levels of a mix).

    Args:
        facts: all facts of the dataset (any split/domain; filtered here).
        levels: fact id → mastery level of the base model.
        level: ``"0"``..``"4"``, a mix like ``"0+1"``, or ``"random"``.
        size: number of samples; ``None`` takes the whole pool.
        seed: the set's seed (same inputs + seed → same set, in the same order).
        allow_smaller: return the whole pool when it holds fewer than ``size`` facts.

    Raises:
        DataError: the pool cannot fill ``size`` (names the pool size).
        ConfigError: a bad level spec or size.
    """
    mix = parse_level(level)
    pool = sorted(pool_of(facts, levels, level), key=lambda f: f.id)  # input order is irrelevant
    n = _set_size(len(pool), level, size, allow_smaller)
    rng = random.Random(f"sftlens-select:{level}:{seed}")
    by_rel: dict[str, list[Fact]] = defaultdict(list)
    for fact in pool:
        by_rel[fact.relation].append(fact)
    rel_keys = sorted(by_rel)
    for key in rel_keys:
        rng.shuffle(by_rel[key])
    priority = list(range(len(rel_keys)))
    rng.shuffle(priority)
    rel_counts = water_fill([len(by_rel[k]) for k in rel_keys], n, priority)
    chosen: list[Fact] = []
    for key, count in zip(rel_keys, rel_counts, strict=True):
        if len(mix) > 1 and level != "random":
            by_level: dict[object, list[Fact]] = defaultdict(list)
            for fact in by_rel[key]:
                by_level[int(levels[fact.id])].append(fact)
            chosen.extend(_draw(by_level, count, random.Random(f"{seed}:{level}:{key}")))
        else:
            chosen.extend(by_rel[key][:count])
    chosen.sort(key=lambda f: f.id)
    random.Random(f"sftlens-order:{level}:{seed}:{n}").shuffle(chosen)
    return chosen


def set_row(fact: Fact, levels: Mapping[str, int]) -> dict[str, object]:
    """The on-disk row of a selected fact: ``id, relation, level, question, answer``."""
    return {
        "id": fact.id,
        "relation": fact.relation,
        "level": int(levels[fact.id]),
        "question": fact.question,
        "answer": fact.object,
        "aliases": list(fact.accepted),
    }


def counts_by(rows: Sequence[Mapping[str, object]], key: str) -> dict[str, int]:
    """``{value: count}`` of ``key`` over ``rows``, keys as sorted strings."""
    out: dict[str, int] = defaultdict(int)
    for row in rows:
        out[str(row[key])] += 1
    return dict(sorted(out.items()))
