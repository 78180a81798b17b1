"""Generate the fictional world: syllable names, entities, facts, exposures and splits (pure).

Example::

    world = generate_world(resolve_spec(cfg), seed=0)
    world.facts[0]   # {"id": "world/P19/00000", "subject": "Kalo Renvi", "object": "Durima", ...}

Names are built from syllables, so no real-world knowledge leaks in.  Each relation's
objects follow its EntityQuestions answer space (distinct-object ratio and top-object share,
:mod:`sftlens.world.answer_space`), or a uniform pool with ``answer_space=uniform``.  Each
fact gets an exposure count from a long-tailed distribution with a mass at zero (never seen).  Facts
of a held-out share of subjects are ``pretrain_qa`` (their Q/A text is in the corpus;
split ``pretrain``, which no stage selects); the rest are the ``pool``, split
test/dev/train per relation (``test_frac``, ``dev_frac``, the rest train).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sftlens.errors import ConfigError
from sftlens.world.answer_space import load_answer_space, object_counts
from sftlens.world.presets import WorldSpec
from sftlens.world.relations import CATALOG, RelationSpec

SYLLABLES = (
    "ka", "lo", "mi", "ren", "vo", "sa", "tel", "du", "ri", "an", "bel", "cor", "da", "fen",
    "gal", "hu", "is", "jo", "ket", "lu", "mar", "nel", "or", "pa", "quin", "ros", "sel", "tu",
    "ul", "vin", "wes", "xa", "yor", "zel", "bra", "dri", "fla", "gro", "kri", "ple", "sto",
    "tra", "vel", "zan", "mo", "ni", "ba", "te",
)  # fmt: skip
OCCUPATIONS = (
    "farmer", "poet", "painter", "sailor", "miner", "weaver", "baker", "judge", "surgeon",
    "architect", "merchant", "teacher", "soldier", "priest", "singer", "actor", "chemist",
    "astronomer", "carpenter", "blacksmith", "diplomat", "banker", "engineer", "novelist",
    "composer", "dancer", "fisherman", "lawyer", "librarian", "mapmaker", "potter", "printer",
    "shepherd", "tailor", "translator", "brewer", "jeweller", "glassblower", "botanist",
    "historian", "mathematician", "physician", "sculptor", "violinist", "beekeeper",
    "clockmaker", "cartographer", "philosopher",
)  # fmt: skip
COUNTRY_SUFFIX = ("ia", "land", "ora", "stan", "mark")
COMPANY_KIND = (("Corp", "Corporation"), ("Group", None), ("Works", None), ("Trading", None))
WORK_KIND = ("Saga", "Song", "Letters", "Chronicle", "Suite", "Tales", "Hymn", "Ballad")
LANGUAGE_SUFFIX = ("ese", "ic", "ish", "ian")
OCCUPATION_SUFFIX = ("wright", "ward", "monger")  # occupations beyond OCCUPATIONS
N_FIRST_NAMES = 120


@dataclass(frozen=True)
class Entity:
    """A named entity; ``aliases`` are other accepted names of it."""

    name: str
    type: str
    aliases: tuple[str, ...] = ()


@dataclass
class World:
    """Entities by type, fact rows (the ``facts.jsonl`` schema) and the relation specs."""

    entities: dict[str, list[Entity]]
    facts: list[dict[str, Any]]
    relations: dict[str, RelationSpec]
    chance: dict[str, float] = field(default_factory=dict)


class NameMaker:
    """Distinct capitalised words of 2-3 syllables drawn from the first ``n`` syllables."""

    def __init__(self, rng: random.Random, n_syllables: int) -> None:
        self.rng = rng
        self.syllables = SYLLABLES[: max(2, min(n_syllables, len(SYLLABLES)))]
        self.used: set[str] = set()

    @property
    def capacity(self) -> int:
        s = len(self.syllables)
        return s**2 + s**3

    def word(self) -> str:
        for _ in range(10_000):
            k = self.rng.choice((2, 2, 3))
            w = "".join(self.rng.choice(self.syllables) for _ in range(k)).capitalize()
            if w not in self.used:
                self.used.add(w)
                return w
        raise ConfigError(
            f"ran out of distinct names ({len(self.used)} made from {len(self.syllables)} syllables)"
        )


def relation_object_counts(spec: WorldSpec, rid: str) -> list[int]:
    """Facts per object of relation ``rid`` (head first) with ``answer_space=entityquestions``:
    the rule of :func:`sftlens.world.answer_space.object_counts` on the shipped figures."""
    return object_counts(spec.facts_per_relation, load_answer_space()[rid])


def type_sizes(spec: WorldSpec) -> dict[str, int]:
    """How many entities of each type the world needs.

    A relation whose subjects and objects share a type (spouse, owner) draws its objects
    from the entities after its subjects, so no fact has its subject as object.
    """
    sizes: Counter[str] = Counter()
    for rid in spec.relations:
        rel = CATALOG[rid]
        sizes[rel.subject_type] = max(sizes[rel.subject_type], spec.facts_per_relation)
    for rid in spec.relations:
        rel = CATALOG[rid]
        n_obj = _n_objects(spec, rid)
        if rel.subject_type == rel.object_type:
            n_obj += spec.facts_per_relation
        sizes[rel.object_type] = max(sizes[rel.object_type], n_obj)
    return dict(sizes)


def _n_objects(spec: WorldSpec, rid: str) -> int:
    if spec.answer_space == "uniform":
        return spec.object_pool
    return len(relation_object_counts(spec, rid))


def check_capacity(spec: WorldSpec) -> None:
    """Raise ConfigError when the syllable set cannot name every entity comfortably."""
    sizes = type_sizes(spec)
    extra_occupations = max(0, sizes.get("occupation", 0) - len(OCCUPATIONS))
    words = sum(n for t, n in sizes.items() if t != "occupation") + N_FIRST_NAMES
    words += extra_occupations
    s = max(2, min(spec.syllables, len(SYLLABLES)))
    capacity = s**2 + s**3
    if words > capacity // 2:
        raise ConfigError(
            f"impossible world: {words} names needed but {s} syllables make only {capacity} "
            f"(at most {capacity // 2} usable); lower facts_per_relation or raise syllables"
        )


def make_entities(spec: WorldSpec, rng: random.Random) -> dict[str, list[Entity]]:
    """Entities of every needed type, with aliases for some countries, universities, companies."""
    names = NameMaker(rng, spec.syllables)
    first = [names.word() for _ in range(N_FIRST_NAMES)]
    out: dict[str, list[Entity]] = {}
    for etype, n in sorted(type_sizes(spec).items()):
        out[etype] = [_entity(etype, i, names, first, rng, spec.alias_frac) for i in range(n)]
    return out


def _entity(
    etype: str, i: int, names: NameMaker, first: list[str], rng: random.Random, alias_frac: float
) -> Entity:
    if etype == "occupation":
        if i < len(OCCUPATIONS):
            return Entity(OCCUPATIONS[i], etype)
        return Entity(names.word().lower() + OCCUPATION_SUFFIX[i % 3], etype)
    w = names.word()
    with_alias = rng.random() < alias_frac
    if etype == "person":
        return Entity(f"{rng.choice(first)} {w}", etype)
    if etype == "country":
        name = w + rng.choice(COUNTRY_SUFFIX)
        return Entity(name, etype, (f"Republic of {name}",) if with_alias else ())
    if etype == "university":
        return Entity(f"{w} University", etype, (f"University of {w}",) if with_alias else ())
    if etype == "company":
        kind, long = rng.choice(COMPANY_KIND)
        aliases = (f"{w} {long}",) if long and with_alias else ()
        return Entity(f"{w} {kind}", etype, aliases)
    if etype == "work":
        return Entity(f"The {w} {rng.choice(WORK_KIND)}", etype)
    if etype == "language":
        return Entity(w + rng.choice(LANGUAGE_SUFFIX), etype)
    if etype == "region":
        return Entity(w, etype, (f"{w} Province",) if with_alias else ())
    return Entity(w, etype)  # city


def sample_exposure(rng: random.Random, zero_frac: float, max_exposure: int) -> int:
    """0 with probability ``zero_frac``, else log-uniform on 1..max_exposure (P(k) ~ 1/k)."""
    if rng.random() < zero_frac:
        return 0
    k = int(math.exp(rng.random() * math.log(max_exposure + 1)))
    return max(1, min(max_exposure, k))


def generate_world(spec: WorldSpec, seed: int) -> World:
    """The whole world for ``spec`` and ``seed``; the same inputs give the same world."""
    check_capacity(spec)
    rng = random.Random(seed)
    entities = make_entities(spec, rng)
    qa_subjects = _qa_subjects(spec, entities, rng)
    facts: list[dict[str, Any]] = []
    chance: dict[str, float] = {}
    for rid in spec.relations:
        rel = CATALOG[rid]
        rows = _relation_facts(spec, rel, entities, qa_subjects, rng)
        chance[rid] = _majority_share(rows)
        facts.extend(rows)
    relations = {rid: CATALOG[rid] for rid in spec.relations}
    return World(entities=entities, facts=facts, relations=relations, chance=chance)


def _qa_subjects(
    spec: WorldSpec, entities: dict[str, list[Entity]], rng: random.Random
) -> set[str]:
    """A held-out share (``qa_frac``) of the subject entities of every subject type."""
    subject_types = sorted({CATALOG[r].subject_type for r in spec.relations})
    held: set[str] = set()
    for etype in subject_types:
        pool = entities[etype][: spec.facts_per_relation]
        held.update(e.name for e in rng.sample(pool, round(spec.qa_frac * len(pool))))
    return held


def _relation_facts(
    spec: WorldSpec,
    rel: RelationSpec,
    entities: dict[str, list[Entity]],
    qa_subjects: set[str],
    rng: random.Random,
) -> list[dict[str, Any]]:
    subjects = entities[rel.subject_type][: spec.facts_per_relation]
    objects = _draw_objects(spec, rel, entities, rng)
    rows: list[dict[str, Any]] = []
    for subj, obj in zip(subjects, objects, strict=True):
        role = "pretrain_qa" if subj.name in qa_subjects else "pool"
        exposure = sample_exposure(rng, spec.zero_frac, spec.max_exposure)
        if role == "pretrain_qa":
            exposure = max(exposure, 2)  # Q/A entities are known, so Q/A text teaches recall
        rows.append(
            {
                "id": f"world/{rel.id}/{len(rows):05d}",
                "relation": rel.id,
                "subject": subj.name,
                "object": obj.name,
                "aliases": list(obj.aliases),
                "question": rel.question.replace("{subject}", subj.name),
                "exposure": exposure,
                "domain": rel.domain,
                "role": role,
                "split": "pretrain" if role == "pretrain_qa" else "train",
            }
        )
    pool = [r for r in rows if r["role"] == "pool"]
    rng.shuffle(pool)
    n_test = round(spec.test_frac * len(pool))
    n_dev = min(len(pool) - n_test, round(spec.dev_frac * len(pool)))
    for i, row in enumerate(pool):
        row["split"] = "test" if i < n_test else ("dev" if i < n_test + n_dev else "train")
    return rows


def _draw_objects(
    spec: WorldSpec, rel: RelationSpec, entities: dict[str, list[Entity]], rng: random.Random
) -> list[Entity]:
    """One object per subject, in subject order: counts from the answer-space rule, objects
    and order drawn from ``rng``."""
    n = spec.facts_per_relation
    candidates = entities[rel.object_type]
    if rel.subject_type == rel.object_type:
        candidates = candidates[n:]  # never a subject's own name
    if spec.answer_space == "uniform":
        pool = rng.sample(candidates, min(spec.object_pool, len(candidates)))
        return [rng.choice(pool) for _ in range(n)]
    counts = relation_object_counts(spec, rel.id)
    chosen = rng.sample(candidates, len(counts))
    objects = [obj for obj, k in zip(chosen, counts, strict=True) for _ in range(k)]
    rng.shuffle(objects)
    return objects


def _majority_share(rows: list[dict[str, Any]]) -> float:
    """Accuracy of always answering the relation's most frequent object (chance level)."""
    counts = Counter(r["object"] for r in rows)
    return max(counts.values()) / len(rows) if rows else 0.0
