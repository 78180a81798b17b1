"""Per-relation answer spaces: the shipped EntityQuestions figures and the world's sampling rule.

Example::

    table = load_answer_space()                 # {"P17": AnswerSpace(0.0257, 0.2204), ...}
    counts = object_counts(200, table["P17"])   # [44, 39, 39, 39, 39]: one head, a Zipf tail

Two figures describe a relation's answer space: ``distinct_ratio`` (distinct objects /
facts) and ``top_share`` (share of facts whose object is the most frequent one). They are
measured once on EntityQuestions' train split (first answer of each question) and shipped
in ``answer_space.yaml``; the world never reads EntityQuestions. Regenerate the table with::

    python -m sftlens.world.answer_space ../shared/data/entityquestions

The sampling rule (:func:`object_counts`), for ``n`` facts: ``head = max(1, round(top_share * n))``
facts get the head object; ``distinct = max(2, round(distinct_ratio * n))`` objects in all,
raised where needed so that no tail object holds more facts than the head; every tail
object holds one fact, and the remaining facts go to the tail by Zipf weights ``1/rank``,
capped at the head count (the overflow goes to the next objects below the cap).
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sftlens.errors import SftlensError

TABLE_FILE = "answer_space.yaml"
WITHIN_FACTOR = 2.0


@dataclass(frozen=True)
class AnswerSpace:
    """A relation's answer space: distinct objects / facts, and the top object's share."""

    distinct_ratio: float
    top_share: float


def load_answer_space() -> dict[str, AnswerSpace]:
    """The shipped per-relation figures (``src/sftlens/world/answer_space.yaml``)."""
    text = resources.files("sftlens.world").joinpath(TABLE_FILE).read_text()
    data = yaml.safe_load(text)
    return {
        rid: AnswerSpace(float(v["distinct_ratio"]), float(v["top_share"]))
        for rid, v in data["relations"].items()
    }


def measure(objects: list[str]) -> AnswerSpace:
    """Distinct ratio and top-object share of a list of answers (one per fact)."""
    if not objects:
        return AnswerSpace(float("nan"), float("nan"))
    counts = Counter(objects)
    return AnswerSpace(len(counts) / len(objects), max(counts.values()) / len(objects))


def within(value: float, reference: float, factor: float = WITHIN_FACTOR) -> bool:
    """Whether ``value`` lies within a factor of ``reference`` (both positive)."""
    if not (value > 0 and reference > 0):
        return False
    return reference / factor <= value <= reference * factor


def object_counts(n: int, space: AnswerSpace) -> list[int]:
    """Facts per object for ``n`` facts, head first (sums to ``n``); the rule in the docstring."""
    if n <= 0:
        return []
    head = min(n, max(1, round(space.top_share * n)))
    distinct = max(2, round(space.distinct_ratio * n))
    rest = n - head
    if rest == 0:
        return [n]
    distinct = max(distinct, 1 + math.ceil(rest / head))  # no tail object above the head
    tail = min(distinct - 1, rest)
    counts = [1] * tail
    extra = rest - tail
    weights = [1.0 / (k + 1) for k in range(tail)]
    total = sum(weights)
    for k in range(tail):
        give = min(head - counts[k], math.floor(extra * weights[k] / total))
        counts[k] += give
    left = rest - sum(counts)
    k = 0
    while left > 0:  # rounding and capping leftovers, in rank order below the cap
        if counts[k % tail] < head:
            counts[k % tail] += 1
            left -= 1
        k += 1
    return [head, *counts]


def compare_answer_space(
    objects_by_relation: dict[str, list[str]], table: dict[str, AnswerSpace] | None = None
) -> list[dict[str, Any]]:
    """Per relation of the shipped table: the world's figures beside EntityQuestions', and
    whether both lie within :data:`WITHIN_FACTOR` of them."""
    table = load_answer_space() if table is None else table
    rows = []
    for rid, objects in objects_by_relation.items():
        if rid not in table:
            continue
        got, ref = measure(objects), table[rid]
        rows.append(
            {
                "relation": rid,
                "eq_distinct_ratio": ref.distinct_ratio,
                "distinct_ratio": got.distinct_ratio,
                "eq_top_share": ref.top_share,
                "top_share": got.top_share,
                "within": within(got.distinct_ratio, ref.distinct_ratio)
                and within(got.top_share, ref.top_share),
            }
        )
    return rows


def eq_answer_space(eq_dir: str | Path, relations: list[str]) -> dict[str, AnswerSpace]:
    """Measure each relation on EntityQuestions' train split (``DIR/dataset/train/Pxx.train.json``)."""
    out = {}
    for rid in relations:
        path = Path(eq_dir) / "dataset" / "train" / f"{rid}.train.json"
        if not path.is_file():
            raise SftlensError(f"{path}: missing (EntityQuestions train split of {rid})")
        rows = json.loads(path.read_text())
        out[rid] = measure([row["answers"][0] for row in rows])
    return out


def table_yaml(figures: dict[str, AnswerSpace]) -> str:
    """``answer_space.yaml`` text: source, licence, regeneration command, figures."""
    data: dict[str, Any] = {
        "source": "EntityQuestions (Sciavolino et al. 2021), train split, first answer per question",
        "license": "MIT",
        "command": "python -m sftlens.world.answer_space ../shared/data/entityquestions",
        "relations": {
            rid: {"distinct_ratio": round(f.distinct_ratio, 4), "top_share": round(f.top_share, 4)}
            for rid, f in figures.items()
        },
    }
    return yaml.safe_dump(data, sort_keys=False)


def main(argv: list[str]) -> int:
    """Print the table measured from the EntityQuestions directory ``argv[0]``."""
    from sftlens.world.relations import ALL_RELATIONS

    if len(argv) != 1:
        print("usage: python -m sftlens.world.answer_space EQ_DIR > answer_space.yaml")
        return 2
    sys.stdout.write(table_yaml(eq_answer_space(argv[0], list(ALL_RELATIONS))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
