"""World generation: determinism, exposure distribution, templates, aliases, capacity."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from sftlens.config import load_config
from sftlens.errors import ConfigError, SftlensError
from sftlens.prompts import ANSWER_TOKEN, QUESTION_TOKEN
from sftlens.world.config import WorldConfig
from sftlens.world.corpus import (
    EOS_TEXT,
    PRETRAIN_QA_FORMATS,
    is_qa_line,
    qa_text,
    render_corpus,
    statement_text,
)
from sftlens.world.generate import generate_world, sample_exposure
from sftlens.world.presets import resolve_spec
from sftlens.world.relations import CATALOG, IN_DOMAIN


def spec_of(**values):
    return resolve_spec(load_config(WorldConfig, values={"preset": "micro", **values}))


def test_same_seed_same_world_and_corpus():
    spec = spec_of()
    a, b = generate_world(spec, 3), generate_world(spec, 3)
    assert a.facts == b.facts
    assert render_corpus(a, spec, 3) == render_corpus(b, spec, 3)


def test_other_seed_other_world():
    spec = spec_of()
    assert generate_world(spec, 1).facts != generate_world(spec, 2).facts


def test_fact_rows_follow_contract():
    spec = spec_of()
    world = generate_world(spec, 0)
    keys = {
        "id",
        "relation",
        "subject",
        "object",
        "aliases",
        "question",
        "exposure",
        "domain",
        "role",
        "split",
    }
    assert all(set(f) == keys for f in world.facts)
    assert len({f["id"] for f in world.facts}) == len(world.facts)
    for f in world.facts:
        assert f["domain"] == ("in" if f["relation"] in IN_DOMAIN else "ood")
        assert f["subject"] in f["question"] and f["object"] != f["subject"]
        # pretrain-QA facts are held out of train/dev/test; pool facts are split
        assert (f["role"] == "pretrain_qa") == (f["split"] == "pretrain")
    pool = [f for f in world.facts if f["role"] == "pool"]
    splits = Counter(f["split"] for f in pool)
    assert set(splits) == {"train", "dev", "test"}
    n_dev = sum(
        round(spec.dev_frac * sum(f["relation"] == r for f in pool)) for r in spec.relations
    )
    assert splits["dev"] == n_dev > 0
    qa_subjects = {f["subject"] for f in world.facts if f["role"] == "pretrain_qa"}
    assert qa_subjects and not qa_subjects & {f["subject"] for f in pool}


def test_exposure_distribution_is_long_tailed_with_zeros():
    rng = random.Random(0)
    draws = [sample_exposure(rng, 0.25, 30) for _ in range(20_000)]
    counts = Counter(draws)
    assert 0.22 < counts[0] / len(draws) < 0.28
    assert min(draws) == 0 and max(draws) == 30
    assert counts[1] > counts[3] > counts[10] > counts[25] > 0  # decreasing tail
    assert sum(1 for d in draws if d >= 10) / len(draws) > 0.15


def test_statement_lines_render_each_exposure_with_varied_templates():
    spec = replace(spec_of(), alias_frac=0.0, filler_frac=0.0, qa_repeats=1)
    world = generate_world(spec, 0)
    lines = render_corpus(world, spec, 0)
    fact = max((f for f in world.facts if f["role"] == "pool"), key=lambda f: f["exposure"])
    templates = CATALOG[fact["relation"]].statements
    mine = [
        line
        for line in lines
        if line in {statement_text(t, fact["subject"], fact["object"]) for t in templates}
    ]
    assert len(mine) == fact["exposure"]
    assert len(set(mine)) == min(fact["exposure"], len(templates))
    assert all(line.endswith(f" {fact['object']}.") and "\n" not in line for line in mine)
    unseen = [f for f in world.facts if f["exposure"] == 0]
    assert unseen and not any(
        f"{u['subject']} " in line and u["object"] in line for u in unseen[:20] for line in lines
    )


def test_qa_text_only_for_pretrain_qa_facts_in_varied_formats():
    spec = replace(spec_of(), qa_repeats=4)
    world = generate_world(spec, 0)
    lines = set(render_corpus(world, spec, 0))
    used = set()
    for f in world.facts:
        present = [
            fmt for fmt in PRETRAIN_QA_FORMATS if qa_text(f["question"], f["object"], fmt) in lines
        ]
        assert bool(present) == (f["role"] == "pretrain_qa")
        used.update(present)
    assert used == set(PRETRAIN_QA_FORMATS)  # every format is drawn somewhere
    assert qa_text("Q?", "A") == "Q: Q? A: A"
    assert qa_text("Q?", "A", PRETRAIN_QA_FORMATS[2]) == "Interviewer: Q? Expert: A."


@pytest.mark.parametrize("preset", ["micro", "tiny"])
def test_corpus_never_holds_the_sft_markers(preset):
    spec = spec_of(preset=preset)
    lines = render_corpus(generate_world(spec, 0), spec, 0)
    for marker in (QUESTION_TOKEN, ANSWER_TOKEN, EOS_TEXT):
        assert not any(marker in line for line in lines), marker
    assert any(is_qa_line(line) for line in lines)


def test_dev_split_is_seeded_and_disjoint_from_train_and_test():
    spec = spec_of(dev_frac=0.2)
    world = generate_world(spec, 0)
    by_split = {
        s: {f["id"] for f in world.facts if f["split"] == s}
        for s in ("train", "dev", "test", "pretrain")
    }
    ids = [i for group in by_split.values() for i in group]
    assert len(ids) == len(set(ids)) == len(world.facts)  # disjoint and complete
    assert all(f["role"] == "pool" for f in world.facts if f["id"] in by_split["dev"])
    for rel in spec.relations:
        pool = [f for f in world.facts if f["relation"] == rel and f["role"] == "pool"]
        assert sum(f["split"] == "dev" for f in pool) == round(0.2 * len(pool))
    again = generate_world(spec, 0)
    assert {f["id"] for f in again.facts if f["split"] == "dev"} == by_split["dev"]
    no_dev = generate_world(spec_of(dev_frac=0.0), 0)
    assert not any(f["split"] == "dev" for f in no_dev.facts)


def test_aliases_are_used_in_corpus_and_listed_on_facts():
    spec = replace(spec_of(), alias_frac=1.0, filler_frac=0.0)
    world = generate_world(spec, 0)
    with_alias = [f for f in world.facts if f["aliases"]]
    assert with_alias, "countries get aliases when alias_frac=1"
    assert all(f["object"] not in f["aliases"] for f in with_alias)
    text = "\n".join(render_corpus(world, spec, 0))
    assert any(f" {a}." in text for f in with_alias for a in f["aliases"])


def test_impossible_world_is_a_config_error():
    with pytest.raises(ConfigError, match="impossible world"):
        generate_world(spec_of(syllables=3), 0)


def test_unknown_preset_and_relation_suggest():
    with pytest.raises(SftlensError, match="did you mean 'tiny'"):
        spec_of(preset="tinny")
    with pytest.raises(ConfigError, match="unknown relation"):
        spec_of(relations=["P19", "P999"])
