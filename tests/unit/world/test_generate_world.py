"""World generation: determinism, exposure distribution, templates, aliases, capacity."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from sftlens.config import load_config
from sftlens.errors import ConfigError, SftlensError
from sftlens.prompts import ANSWER_TOKEN, QUESTION_TOKEN
from sftlens.world.answer_space import (
    AnswerSpace,
    compare_answer_space,
    load_answer_space,
    object_counts,
)
from sftlens.world.config import WorldConfig
from sftlens.world.corpus import EOS_TEXT, render_corpus, statement_text
from sftlens.world.generate import generate_world, sample_exposure
from sftlens.world.presets import resolve_spec
from sftlens.world.qa_text import (
    HELDOUT_QA_FORMAT,
    PARAPHRASES,
    PRETRAIN_QA_FORMATS,
    is_qa_line,
    pretrain_qa_line,
    qa_text,
)
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


def test_qa_text_only_for_pretrain_qa_facts_in_paraphrases_and_formats():
    spec = replace(spec_of(preset="tiny"), qa_repeats=6)
    world = generate_world(spec, 0)
    lines = set(render_corpus(world, spec, 0))
    formats, wordings = set(), set()
    for f in world.facts[::7]:
        present = [
            (fmt, k)
            for fmt in PRETRAIN_QA_FORMATS
            for k in range(len(PARAPHRASES[f["relation"]]))
            if pretrain_qa_line(f["relation"], f["subject"], f["object"], k, fmt) in lines
        ]
        assert bool(present) == (f["role"] == "pretrain_qa")
        formats.update(fmt for fmt, _ in present)
        wordings.update((f["relation"], k) for _, k in present)
    assert formats == set(PRETRAIN_QA_FORMATS)  # every format is drawn somewhere
    assert len(wordings) > 2 * len(spec.relations)  # several paraphrases per relation
    assert qa_text("Q?", "A") == "Q: Q? A: A"
    assert qa_text("Q?", "A", PRETRAIN_QA_FORMATS[2]) == "Interviewer: Q? Expert: A."


def test_corpus_never_asks_the_test_wording_nor_the_heldout_format():
    spec = spec_of(preset="tiny")
    world = generate_world(spec, 0)
    lines = render_corpus(world, spec, 0)
    for rid in spec.relations:
        question = CATALOG[rid].question
        assert len(PARAPHRASES[rid]) >= 3 and question not in PARAPHRASES[rid]
    questions = {f["question"] for f in world.facts}
    heldout_prefix = HELDOUT_QA_FORMAT.split("{question}")[0]
    assert HELDOUT_QA_FORMAT not in PRETRAIN_QA_FORMATS
    for line in lines:
        assert not line.startswith(heldout_prefix)
        if is_qa_line(line):
            assert not any(q in line for q in questions if q.split()[-1] in line), line
    assert is_qa_line("Who wrote The Ka Saga? The answer is Sel Tu.")
    assert not is_qa_line("Sel Tu was born in Corketia.")


def test_answer_prior_follows_entityquestions_figures():
    spec = spec_of(preset="tiny")
    world = generate_world(spec, 0)
    table = load_answer_space()
    rows = compare_answer_space(
        {r: [f["object"] for f in world.facts if f["relation"] == r] for r in spec.relations}
    )
    by_rel = {r["relation"]: r for r in rows}
    assert set(by_rel) == set(spec.relations)
    assert sum(r["within"] for r in rows) / len(rows) >= 0.8
    # strong priors are kept, near-unique answers stay near-unique
    assert by_rel["P495"]["top_share"] == pytest.approx(table["P495"].top_share, abs=0.01)
    assert by_rel["P26"]["distinct_ratio"] > 0.9 and by_rel["P26"]["top_share"] <= 0.01
    assert world.chance["P495"] == by_rel["P495"]["top_share"]
    uniform = generate_world(replace(spec, answer_space="uniform", object_pool=40), 0)
    objs = [f["object"] for f in uniform.facts if f["relation"] == "P495"]
    assert 30 < len(set(objs)) <= 40  # drawn uniformly from 40 objects


@pytest.mark.parametrize("share", [0.7, 0.22, 0.05, 0.001])
@pytest.mark.parametrize("ratio", [0.02, 0.3, 0.95])
def test_object_counts_rule(share, ratio):
    n = 200
    counts = object_counts(n, AnswerSpace(ratio, share))
    assert sum(counts) == n and min(counts) >= 1
    assert counts[0] == max(counts) == max(1, round(share * n))
    assert counts[1:] == sorted(counts[1:], reverse=True)  # a Zipf-ordered tail
    assert len(counts) >= min(max(2, round(ratio * n)), n - counts[0] + 1)


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
    with pytest.raises(ConfigError, match="choose entityquestions or uniform"):
        spec_of(answer_space="zipf")


def test_gpu_preset_world_generates_on_cpu_with_entityquestions_answer_spaces():
    spec = spec_of(preset="gpu")
    world = generate_world(spec, 0)
    assert len(world.facts) == 17 * 6500
    rows = compare_answer_space(
        {r: [f["object"] for f in world.facts if f["relation"] == r] for r in spec.relations}
    )
    assert all(r["within"] for r in rows)  # 6,500 facts per relation: every figure reachable
    jobs = {f["object"] for f in world.facts if f["relation"] == "P106"}
    assert len(jobs) == round(load_answer_space()["P106"].distinct_ratio * 6500)
    spouses = [f for f in world.facts if f["relation"] == "P26"]
    assert not {f["object"] for f in spouses} & {f["subject"] for f in spouses}
