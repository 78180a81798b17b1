"""probe_facts: prompts per scheme, counting, levels; bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sftlens.data import load_dataset
from sftlens.data.records import Relation
from sftlens.errors import DataError
from sftlens.generation import GenerationConfig
from sftlens.newline_rule import answer_line
from sftlens.probing import ProbeConfig, level_of, probe_facts
from sftlens.probing import probe as probe_mod


def cfg(path: Path, **kw: Any) -> ProbeConfig:
    return ProbeConfig(model="m", data=f"jsonl:{path}", **kw)


def test_real_model_rows_are_consistent(model_tok: tuple[Any, Any], facts_jsonl: Path) -> None:
    model, tok = model_tok
    ds = load_dataset(f"jsonl:{facts_jsonl}")
    c = cfg(facts_jsonl, templates=3, samples=2, max_new_tokens=4, save_completions=True)
    rows = probe_facts(model, tok, ds.facts, ds.relations, c, progress=False)
    assert [r["id"] for r in rows] == [f.id for f in ds.facts]
    for r in rows:
        assert r["n_total"] == 6 and len(r["per_template_correct"]) == 3
        assert r["R"] == r["n_correct"] / 6 and r["level"] == level_of(r["R"])
        assert len(r["completions"]) == 3 and all(len(c) == 2 for c in r["completions"])
    again = probe_facts(model, tok, ds.facts[::-1], ds.relations, c, progress=False)
    assert again[::-1] == rows  # seeded per prompt: order does not matter
    quick = probe_facts(
        model,
        tok,
        ds.facts[:2],
        ds.relations,
        cfg(facts_jsonl, greedy=True, templates=2),
        progress=False,
    )
    assert all(r["n_total"] == 2 for r in quick)


def fake_generate(answer_for: dict[str, list[str]], default: str = "nothing") -> Any:
    """A stand-in engine returning fixed completions per prompt (``default`` for any other);
    it records each call's settings (``gen.calls``) and the prompts it was given (``gen.seen``)."""
    calls: list[GenerationConfig] = []
    seen: list[str] = []

    def gen(
        model: Any,
        tok: Any,
        prompts: list[str],
        g: GenerationConfig,
        progress: Any = False,
        cap_hits: Any = None,
    ) -> list[list[str]]:
        calls.append(g)
        seen.extend(prompts)
        return [(answer_for.get(p) or [default] * g.n_samples)[: g.n_samples] for p in prompts]

    gen.calls = calls  # type: ignore[attr-defined]
    gen.seen = seen  # type: ignore[attr-defined]
    return gen


def test_counts_r_and_levels_from_completions(
    facts_jsonl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = load_dataset(f"jsonl:{facts_jsonl}")
    rel = ds.relations["P19"]
    alice = ds.facts[0]  # born in Paris
    answers = {
        rel.statement("Alice", 0): [" Paris.", " paris", " Rome", " Paris"],  # 3 of 4
        rel.statement("Alice", 1): ["in Paris"] + ["Oslo"] * 3,  # 1 of 4
    }
    monkeypatch.setattr(probe_mod, "generate", fake_generate(answers))
    rows = probe_facts(None, None, [alice], ds.relations, cfg(facts_jsonl, templates=3, samples=4))
    assert rows[0]["per_template_correct"] == [3, 1, 0]
    assert (rows[0]["n_correct"], rows[0]["n_total"], rows[0]["level"]) == (4, 12, 2)


def test_slick_prompts_use_dev_exemplars_then_train(
    facts_jsonl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = load_dataset(f"jsonl:{facts_jsonl}")
    gen = fake_generate({})
    seen: list[str] = gen.seen
    monkeypatch.setattr(probe_mod, "generate", gen)
    c = cfg(facts_jsonl, scheme="slick", slick={"exemplar_sets": 3, "shots": 2, "samples": 4})
    p19_test = next(f for f in ds.facts if f.relation == "P19" and f.split == "test")
    p36 = next(f for f in ds.facts if f.relation == "P36")
    rows = probe_facts(None, None, [p19_test, p36], ds.relations, c, pool=ds.facts)
    dev_questions = {f.question for f in ds.facts if f.relation == "P19" and f.split == "dev"}
    p19_prompts = [p for p in seen if p.endswith(f"Q: {p19_test.question}\nA:")]
    assert p19_prompts and all(p.count("Q: ") == 3 for p in p19_prompts)
    for p in p19_prompts:
        shots = {line[3:] for line in p.split("\n") if line.startswith("Q: ")} - {p19_test.question}
        assert shots <= dev_questions
    assert any(p.endswith(f"Q: {p36.question}\nA:") and "capital" in p.split("\n")[0] for p in seen)
    assert [g.temperature for g in gen.calls] == [0.0, 0.5] and gen.calls[1].top_k == 40
    assert all(r["category"] == "Unknown" and r["n_total"] == 3 for r in rows)


def test_bad_input_is_one_line(facts_jsonl: Path) -> None:
    ds = load_dataset(f"jsonl:{facts_jsonl}")
    empty = {"P19": Relation("P19", "place of birth", "Where was {subject} born?", ())}
    with pytest.raises(DataError, match="P19.*no statement templates") as err:
        probe_facts(None, None, ds.facts[:1], empty, cfg(facts_jsonl))
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="not among the loaded relations"):
        probe_facts(None, None, ds.facts[:1], {}, cfg(facts_jsonl))
    with pytest.raises(DataError, match="fewer than templates=99"):
        probe_facts(None, None, ds.facts[:1], ds.relations, cfg(facts_jsonl, templates=99))
    lonely = [f for f in ds.facts if f.relation == "P36"][:1]
    with pytest.raises(DataError, match="SliCK exemplars"):
        probe_facts(None, None, lonely, ds.relations, cfg(facts_jsonl, scheme="slick"), pool=lonely)


def test_identical_prompts_are_generated_once(
    facts_jsonl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    ds = load_dataset(f"jsonl:{facts_jsonl}")
    alice = ds.facts[0]
    twin = dataclasses.replace(alice, id="P19/twin", answers=("Rome",))
    gen = fake_generate({}, default="in Rome")
    seen: list[str] = gen.seen
    monkeypatch.setattr(probe_mod, "generate", gen)
    rows = probe_facts(None, None, [alice, twin], ds.relations, cfg(facts_jsonl, templates=2))
    assert len(seen) == len(set(seen)) == 2
    assert [r["n_correct"] for r in rows] == [0, 20]


def test_answer_span_is_a_setting_paper_default_full(
    facts_jsonl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = load_dataset(f"jsonl:{facts_jsonl}")
    alice = ds.facts[0]  # born in Paris
    rel = ds.relations["P19"]
    # the answer only after the first newline: counts unless completions are cut there
    answers = {rel.statement("Alice", 0): [" Rome.\nParis"] * 2}
    gen = fake_generate(answers)
    monkeypatch.setattr(probe_mod, "generate", gen)
    for span, want in ((None, "full"), ("full", "full"), ("first_line", "first_line")):
        c = cfg(facts_jsonl, templates=1, samples=2, answer_span=span)
        assert c.span() == want
        rows = probe_facts(None, None, [alice], ds.relations, c)
        assert gen.calls[-1].answer_span == want
        assert gen.calls[-1].max_new_tokens == 32
        # contains sees the whole completion it is given (the engine does the cutting)
        assert rows[0]["n_correct"] == 2
    assert cfg(facts_jsonl, scheme="slick").span() == "first_line"
    assert cfg(facts_jsonl, scheme="slick", answer_span="full").span() == "full"


def test_probe_and_evaluate_pass_the_same_rule_to_the_engine(facts_jsonl: Path) -> None:
    from sftlens.evaluation import EvaluateConfig
    from sftlens.evaluation.evaluate import generation_config as eval_generation
    from sftlens.probing.probe import generation_config as probe_generation

    for span in ("first_line", "full"):
        probe_gen = probe_generation(cfg(facts_jsonl, answer_span=span))
        eval_gen = eval_generation(EvaluateConfig(answer_span=span))
        assert probe_gen.answer_span == eval_gen.answer_span == span
        assert probe_gen.stop_at_newline is eval_gen.stop_at_newline is (span == "first_line")
    assert EvaluateConfig().answer_span == "first_line"  # the paper's rule by default


def test_unknown_answer_span_and_the_old_key_are_one_line_errors(tmp_path: Path) -> None:
    from sftlens.config import load_config
    from sftlens.errors import ConfigError
    from sftlens.evaluation import EvaluateConfig

    with pytest.raises(
        ConfigError, match=r"key 'answer_span': Input should be 'first_line' or 'full'"
    ) as err:
        load_config(EvaluateConfig, None, ["answer_span=line"])
    assert "\n" not in str(err.value)
    base = ["model=m", "data=jsonl:x"]
    with pytest.raises(
        ConfigError, match="key 'answer_span': Input should be 'first_line' or 'full'"
    ):
        load_config(ProbeConfig, None, [*base, "answer_span=all"])
    with pytest.raises(ConfigError, match="'stop_at_newline' is answer_span here"):
        load_config(ProbeConfig, None, [*base, "stop_at_newline=true"])


def test_cap_hits_warn_under_first_line_only(
    facts_jsonl: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sftlens.generation.cap_hits import CapHits
    from sftlens.probing.probe import warn_cap_hits

    hits = CapHits(completions=10, capped=6)
    with caplog.at_level("WARNING", logger="sftlens.probing.probe"):
        warn_cap_hits(hits, cfg(facts_jsonl))  # paper: full, the cap is where it ends
        assert not caplog.records
        warn_cap_hits(hits, cfg(facts_jsonl, answer_span="first_line"))
    (record,) = caplog.records
    assert "60% of the probe completions (6/10)" in record.getMessage()
    assert "probe.answer_span=full" in record.getMessage()


def test_newline_cut_on_a_real_model_is_a_prefix_of_the_uncut_completion(
    model_tok: tuple[Any, Any], facts_jsonl: Path
) -> None:
    model, tok = model_tok
    ds = load_dataset(f"jsonl:{facts_jsonl}")
    kw: dict[str, Any] = {
        "templates": 2,
        "samples": 3,
        "max_new_tokens": 12,
        "save_completions": True,
    }
    uncut = probe_facts(
        model, tok, ds.facts[:3], ds.relations, cfg(facts_jsonl, **kw), progress=False
    )
    cut = probe_facts(
        model, tok, ds.facts[:3], ds.relations, cfg(facts_jsonl, answer_span="first_line", **kw),
        progress=False,
    )  # fmt: skip
    for u_row, c_row in zip(uncut, cut, strict=True):
        for u_tpl, c_tpl in zip(u_row["completions"], c_row["completions"], strict=True):
            for u, c in zip(u_tpl, c_tpl, strict=True):
                assert "\n" not in c and c.strip() == answer_line(u).strip()
