"""The study's unit bodies: probe base → select sets → per set: fine-tune → evaluate, token-KL,
diff-stats, restore-sweep + evaluate.  Everything is handed on in memory.

Each fine-tune deep-copies the base, trains, and lives in memory while its consumers
(evaluation, KL, diff statistics, restoration) run; it is saved only when ``save_checkpoints``
is set.  Each unit writes its rows under ``units/<name>/``; the shared state is
:class:`sftlens.study.context.StudyContext`, the graph :mod:`sftlens.study.graph`.

Example::

    ctx = StudyContext(cfg, RunDir("runs/x"))
    run_base_eval(ctx, ctx.run_dir.unit_dir("base/eval"))
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftlens.errors import DataError
from sftlens.runstore import atomic_write_json
from sftlens.study.context import Cell, StudyContext
from sftlens.tableio import read_table, write_table

log = logging.getLogger(__name__)


# ------------------------------------------------------------------- unit bodies
def probe_chunks(ctx: StudyContext) -> list[list[Any]]:
    """The probed facts in chunks of ``probe.chunk_size`` (one resumable unit each)."""
    facts = ctx.probed_facts()
    size = ctx.cfg.probe.chunk_size
    return [facts[i : i + size] for i in range(0, len(facts), size)] or [[]]


def run_probe_chunk(ctx: StudyContext, chunk: list[Any], out: Path) -> dict[str, Any]:
    from sftlens.generation import CapHits
    from sftlens.probing import probe_facts, warn_cap_hits

    study = ctx.cfg
    cfg = study.probe.config(
        **ctx.common(), model=study.base_model(), data=study.data_spec(), backend=study.backend
    )
    data = ctx.dataset()
    model = ctx.base(cfg.dtype)  # probe.dtype, or the study's
    hits = CapHits()
    rows = probe_facts(
        model, ctx.tokenizer(), chunk, data.relations, cfg, True, pool=data.facts, cap_hits=hits
    )
    warn_cap_hits(hits, cfg)
    write_table(out / "mastery.parquet", rows)
    return {"facts": len(rows), "cap_hit_share": hits.share}


def run_probe_merge(ctx: StudyContext, names: list[str], out: Path) -> dict[str, Any]:
    rows = [r for name in names for r in read_table(ctx.run_dir.unit_dir(name) / "mastery.parquet")]
    write_table(out / "mastery.parquet", rows)
    for name in ("mastery", "levels", "eval_plans"):
        ctx._cache.pop(name, None)
    return {"facts": len(rows)}


def run_select(ctx: StudyContext, cells: Sequence[Cell], out: Path) -> dict[str, Any]:
    from sftlens.selection import check_pools, select_set, set_row

    allow_smaller = ctx.cfg.select.allow_smaller
    levels = ctx.levels()
    pool = [f for f in ctx.probed_facts() if f.domain == "in" and f.split == "train"]
    if not allow_smaller:  # every cell's pool is checked before any set is written
        check_pools(pool, levels, [(c.level, c.size) for c in cells])
    counts = {}
    for cell in cells:
        size = None if cell.size == "all" else int(cell.size)
        chosen = select_set(pool, levels, cell.level, size, cell.seed, allow_smaller=allow_smaller)
        if not chosen:
            raise DataError(
                f"set {cell.name}: the base model has no in-domain train facts at level "
                f"{cell.level}; drop it from grid.levels"
            )
        rows = [set_row(f, levels) for f in chosen]
        write_table(out / "sets" / f"{cell.name}.jsonl", rows)
        counts[cell.name] = len(rows)
    atomic_write_json(out / "sets.json", counts)
    return {"sets": len(counts)}


def run_finetune(ctx: StudyContext, cell: Cell, out: Path, lr: float | None) -> Any:
    """Deep-copy the base and fine-tune it; the tuned model is the unit's in-memory value.
    ``lr``: the calibrated lr when the study's is ``auto`` (resolved by the graph), else None."""
    from sftlens.finetuning import finetune

    common = ctx.common()
    cfg = ctx.cfg.finetune.config(lr=lr, **common, model=ctx.cfg.base_model(), seed=cell.seed)
    model = copy.deepcopy(ctx.base())
    result = finetune(model, ctx.tokenizer(), ctx.set_examples(cell), cfg, progress=True)
    tuned = result.model
    tuned.eval()
    write_table(out / "log.jsonl", result.log)
    if ctx.cfg.save_checkpoints:
        from sftlens.models import save_model

        save_model(tuned, ctx.tokenizer(), out / "model")
    return tuned


def cell_columns(cell: Cell, n_train: int) -> dict[str, Any]:
    """The cell's columns: ``size`` is the grid's size (the set's length for ``all``);
    ``n_train`` the set's actual length (smaller when ``select.allow_smaller`` shrank it)."""
    size = n_train if cell.size == "all" else int(cell.size)
    return {"train_level": cell.level, "size": size, "seed": cell.seed, "n_train": n_train}


@dataclass
class Evaluated:
    """One model on every evaluation split: accuracy ``rows`` (test_set, domain, test_level, n,
    correct, accuracy), ``answers`` (per split: test_set, questions, n, correct: a ``0``/``1``
    string per question) and ``questions`` (per split and question: test_set, position, id,
    relation, domain, level, questions)."""

    rows: list[dict[str, Any]]
    answers: list[dict[str, Any]]
    questions: list[dict[str, Any]]


def eval_plans(ctx: StudyContext) -> dict[str, Any]:
    """``{split: PreparedEvaluation}`` of every evaluation split, built once per study run:
    facts chosen, prompts formatted and tokenised once for every model evaluated on them."""
    from sftlens.evaluation import prepare_evaluation

    def make() -> dict[str, Any]:
        return {
            split: prepare_evaluation(
                ctx.tokenizer(),
                ctx.eval_facts(split),
                ctx.levels(),
                ctx.cfg.evaluate.config(**ctx.common(), split=split),
            )
            for split in ctx.cfg.eval_sets
        }

    return ctx._get("eval_plans", make)  # type: ignore[no-any-return]


def evaluated(results: Mapping[str, Any]) -> Evaluated:
    """:class:`Evaluated` of one model's ``{split: EvalResult}``."""
    from sftlens.evaluation import answer_columns

    out = Evaluated([], [], [])
    for split, result in results.items():
        answers = {"test_set": split, **answer_columns(result.predictions)}
        out.answers.append(answers)
        out.questions.extend(
            {"test_set": split, "position": i, "id": str(p["id"]), "relation": p["relation"],
             "domain": p["domain"], "level": int(p["level"]), "questions": answers["questions"]}
            for i, p in enumerate(result.predictions)
        )  # fmt: skip
        out.rows.extend(
            {"test_set": split, "domain": r["domain"], "test_level": int(r["test_level"]),
             "n": int(r["n"]), "correct": int(r["correct"]), "accuracy": float(r["accuracy"])}
            for r in result.rows
        )  # fmt: skip
    return out


def eval_rows(ctx: StudyContext, model: Any) -> Evaluated:
    """Evaluate ``model`` on every evaluation split."""
    return evaluated({split: plan.run(model) for split, plan in eval_plans(ctx).items()})


def with_columns(
    found: Evaluated, cell: Cell, size: int, restore: tuple[float, str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``found``'s accuracy rows and answers with the cell's and the restoration's
    (k, strategy, region) columns in front."""
    k, strategy, region = restore
    extra = {**cell_columns(cell, size), "restore_k": k, "strategy": strategy, "region": region}
    return [{**extra, **r} for r in found.rows], [{**extra, **a} for a in found.answers]


def cell_accuracy_rows(
    ctx: StudyContext, model: Any, cell: Cell, size: int, restore: tuple[float, str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """:func:`eval_rows`' accuracy rows and answers of ``model`` with the cell's and the
    restoration's columns."""
    return with_columns(eval_rows(ctx, model), cell, size, restore)


def run_base_eval(ctx: StudyContext, out: Path) -> dict[str, Any]:
    """The base model's accuracy on the evaluation sets (the reference every fine-tune moves from),
    its per-question correctness, and the evaluation questions in the order of every stored
    correctness string."""
    found = eval_rows(ctx, ctx.base())
    write_table(out / "base_accuracy.parquet", found.rows)
    write_table(out / "base_answers.parquet", found.answers)
    write_table(out / "questions.parquet", found.questions)
    return {"rows": len(found.rows)}


def run_eval(ctx: StudyContext, cell: Cell, tuned: Any, out: Path) -> dict[str, Any]:
    size = len(ctx.set_examples(cell))
    rows, answers = cell_accuracy_rows(ctx, tuned, cell, size, (0.0, "none", "none"))
    write_table(out / "accuracy.parquet", rows)
    write_table(out / "answers.parquet", answers)
    return {"rows": len(rows)}


def kl_plan(ctx: StudyContext) -> Any:
    """The token-KL run of the first evaluation split without its tuned model, built once per
    study run: facts chosen, prompts tokenised, the base model's outputs kept after its first run."""
    from sftlens.analysis import prepare_token_kl

    def make() -> Any:
        split = ctx.cfg.eval_sets[0]
        cfg = ctx.cfg.token_kl.config(**ctx.common(), split=split)
        return prepare_token_kl(
            ctx.base(), ctx.tokenizer(), ctx.eval_facts(split), ctx.dataset().relations,
            ctx.levels(), ctx.mastery_rows(), cfg, keep_base=True,
        )  # fmt: skip

    return ctx._get("kl_plan", make)


def run_kl(ctx: StudyContext, cell: Cell, tuned: Any, out: Path) -> dict[str, Any]:
    result = kl_plan(ctx).run(tuned)
    size = len(ctx.set_examples(cell))
    rows = [{**cell_columns(cell, size), **r} for r in result.summary]
    write_table(out / "kl.parquet", rows)
    per_fact = [{**cell_columns(cell, size), "id": str(r["id"]), "relation": r["relation"],
                 "level": int(r["level"]), "kl_top10": float(r["kl_top10"])}
                for r in result.per_fact]  # fmt: skip
    write_table(out / "kl_facts.parquet", per_fact)
    return {"rows": len(rows)}


def run_diff(ctx: StudyContext, cell: Cell, tuned: Any, out: Path) -> dict[str, Any]:
    from sftlens.restoration import EngineSettings, diff_stats, source_from_model

    settings = EngineSettings(device=ctx.cfg.device, progress=False, r_eps=ctx.cfg.restore.r_eps)
    stats = diff_stats(
        source_from_model(ctx.base()), source_from_model(tuned), ctx.cfg.diff_stats.region,
        top_pcts=ctx.cfg.diff_stats.top_pcts, location_ks=(10.0,), settings=settings,
    )  # fmt: skip
    size = len(ctx.set_examples(cell))
    share_rows, group_rows = diff_tables(stats)
    write_table(out / "diff_stats.parquet", [{**cell_columns(cell, size), **r} for r in share_rows])
    write_table(
        out / "diff_groups.parquet", [{**cell_columns(cell, size), **r} for r in group_rows]
    )
    return {"rows": len(share_rows)}


def diff_tables(stats: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(``top_pct, share, zero_base_share`` rows, ``kind, group, value, top_share`` rows).

    ``zero_base_share``: the share of the top p% elements whose base value is 0.

    ``value`` is the mean relative update r of the layer/module; ``top_share`` the share of
    the top-10% elements (by r) that fall into it (the paper's Tables 9–10).
    """
    zero = {float(r["top_pct"]): float(r["zero_base_share"]) for r in stats.zero_base_rows()}
    share_rows = [
        {"top_pct": float(r["top_pct"]), "share": float(r["share"]),
         "zero_base_share": zero.get(float(r["top_pct"]), 0.0)}
        for r in stats.rows()
    ]  # fmt: skip
    groups = []
    for kind, rows in (("layer", stats.layer_rows()), ("module", stats.module_rows())):
        for r in rows:
            groups.append(
                {"kind": kind, "group": str(r[kind]), "value": float(r["mean_r"]),
                 "top_share": float(r.get("share_sel_k10", float("nan")))}
            )  # fmt: skip
    return share_rows, groups


def run_restore(
    ctx: StudyContext, cell: Cell, tuned: Any, strategy: str, region: str, out: Path
) -> dict[str, Any]:
    """Restore each k into the live tuned model and evaluate it on the prepared splits."""
    from sftlens.restoration import EngineSettings, source_from_model, sweep_evaluate

    size, rc = len(ctx.set_examples(cell)), ctx.cfg.restore
    ks, base = [float(k) for k in rc.ks], source_from_model(ctx.base())
    quiet = EngineSettings(progress=False, r_eps=rc.r_eps)
    found = sweep_evaluate(
        tuned, base, ks, strategy, region, rc.seed, eval_plans(ctx), settings=quiet
    )
    tagged = [with_columns(evaluated(found[k]), cell, size, (k, strategy, region)) for k in ks]
    rows = [r for k_rows, _ in tagged for r in k_rows]
    write_table(out / "accuracy.parquet", rows)
    write_table(out / "answers.parquet", [a for _, k_answers in tagged for a in k_answers])
    return {"rows": len(rows)}
