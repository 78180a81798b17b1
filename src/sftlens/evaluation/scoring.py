"""Score QA outputs and aggregate accuracy per level, domain and relation (pure, no I/O).

The paper's headline number is the *macro* accuracy: the mean of the five per-level
accuracies (levels 0..4) of a domain; the *micro* accuracy pools all questions.

Example::

    preds = score_outputs(facts, prompts, outputs, levels, get_matcher("contains"))
    rows = accuracy_rows(preds, domains=["in", "ood"])
    print(format_table(summarize(preds, ["in", "ood"], "contains")))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sftlens.data.matching import match_fact
from sftlens.data.records import Fact

LEVELS = (0, 1, 2, 3, 4)
MACRO_LEVEL = -1

Matcher = Callable[[str, Sequence[str]], "str | None"]


def score_outputs(
    facts: Sequence[Fact],
    prompts: Sequence[str],
    outputs: Sequence[str],
    levels: Mapping[str, int],
    matcher: Matcher,
) -> list[dict[str, Any]]:
    """One prediction row per fact: id, relation, domain, level, prompt, output, correct, matched."""
    if not len(facts) == len(prompts) == len(outputs):
        raise ValueError(f"{len(facts)} facts, {len(prompts)} prompts, {len(outputs)} outputs")
    rows = []
    for fact, prompt, output in zip(facts, prompts, outputs, strict=True):
        matched = match_fact(matcher, output, fact)
        rows.append(
            {
                "id": fact.id,
                "relation": fact.relation,
                "domain": fact.domain,
                "level": int(levels[fact.id]),
                "prompt": prompt,
                "output": output,
                "correct": matched is not None,
                "matched": matched,
            }
        )
    return rows


def _ratio(correct: int, n: int) -> float:
    return correct / n if n else math.nan


def _count(preds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    n = len(preds)
    correct = sum(bool(p["correct"]) for p in preds)
    return {"n": n, "correct": correct, "accuracy": _ratio(correct, n)}


def macro(level_accuracies: Sequence[float]) -> float:
    """Mean of the per-level accuracies, over levels that have questions (NaN if none)."""
    present = [a for a in level_accuracies if not math.isnan(a)]
    return sum(present) / len(present) if present else math.nan


def accuracy_rows(
    preds: Sequence[Mapping[str, Any]], domains: Sequence[str]
) -> list[dict[str, Any]]:
    """The study's rows: per domain, test levels 0..4 and ``-1`` (macro mean of the levels).

    A level without questions has ``n = 0`` and accuracy NaN and is left out of the macro mean.
    """
    rows: list[dict[str, Any]] = []
    for domain in domains:
        in_domain = [p for p in preds if p["domain"] == domain]
        level_rows = [
            {
                "domain": domain,
                "test_level": lv,
                **_count([p for p in in_domain if p["level"] == lv]),
            }
            for lv in LEVELS
        ]
        total = _count(in_domain)
        mean = macro([r["accuracy"] for r in level_rows])
        rows.extend(level_rows)
        rows.append(
            {
                "domain": domain,
                "test_level": MACRO_LEVEL,
                "n": total["n"],
                "correct": total["correct"],
                "accuracy": mean,
            }
        )
    return rows


def summarize(
    preds: Sequence[Mapping[str, Any]], domains: Sequence[str], matching: str
) -> dict[str, Any]:
    """``metrics.json`` content: per domain macro, micro, per level and per relation counts."""
    out: dict[str, Any] = {"matching": matching, "n": len(preds), "domains": {}}
    by_level = {(r["domain"], r["test_level"]): r for r in accuracy_rows(preds, domains)}
    for domain in domains:
        in_domain = [p for p in preds if p["domain"] == domain]
        micro = _count(in_domain)
        relations = sorted({p["relation"] for p in in_domain})
        out["domains"][domain] = {
            "n": micro["n"],
            "correct": micro["correct"],
            "macro": by_level[(domain, MACRO_LEVEL)]["accuracy"],
            "micro": micro["accuracy"],
            "levels": {str(lv): _strip(by_level[(domain, lv)]) for lv in LEVELS},
            "relations": {
                r: _count([p for p in in_domain if p["relation"] == r]) for r in relations
            },
        }
    return out


def _strip(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("n", "correct", "accuracy")}


def _pct(x: float) -> str:
    return "   -" if math.isnan(x) else f"{100 * x:5.1f}"


def format_table(metrics: Mapping[str, Any]) -> str:
    """Plain-text table: accuracy (%) per domain and level, macro, micro and n."""
    head = f"{'domain':<7}" + "".join(f"{'L' + str(lv):>7}" for lv in LEVELS)
    head += f"{'macro':>8}{'micro':>8}{'n':>8}"
    lines = [f"CBQA accuracy (%), matching={metrics['matching']}", head]
    for domain, d in metrics["domains"].items():
        cells = "".join(f"{_pct(d['levels'][str(lv)]['accuracy']):>7}" for lv in LEVELS)
        lines.append(f"{domain:<7}{cells}{_pct(d['macro']):>8}{_pct(d['micro']):>8}{d['n']:>8}")
    counts = "".join(
        f"{'n_L' + str(lv)}={'/'.join(str(d['levels'][str(lv)]['n']) for d in metrics['domains'].values())} "
        for lv in LEVELS
    )
    lines.append(f"questions per level ({'/'.join(metrics['domains'])}): {counts.strip()}")
    echoed = metrics.get("answer_in_question")
    if echoed and any(echoed.values()):
        lines.append(
            "questions containing an accepted answer: "
            + ", ".join(f"{d} {n}" for d, n in echoed.items())
            + (
                ""
                if metrics["matching"] == "contains-no-echo"
                else " (matching=contains-no-echo ignores echoes)"
            )
        )
    return "\n".join(lines)
