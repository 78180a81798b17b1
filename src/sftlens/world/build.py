"""Build a knowledge world end to end: generate, render, tokenize, pretrain, save.

Example::

    result = build_world(load_config(WorldConfig, values={"preset": "micro"}), Path("runs/w"))

Outputs: ``model/`` (HF checkpoint + tokenizer, written atomically via
:func:`sftlens.models.save_model`), ``world/`` (facts.jsonl, relations.yaml,
corpus_stats.json, corpus.txt, pretrain_log.jsonl; written to a temp dir and renamed),
and ``manifest.json`` last.  Everything is validated before anything is written.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sftlens.config import dump_config
from sftlens.models import resolve_device, save_model
from sftlens.outdir import check_out_dir, input_paths, staged_out_dir
from sftlens.runstore import atomic_write_json, versions
from sftlens.tableio import write_table
from sftlens.world.config import WorldConfig
from sftlens.world.corpus import corpus_stats, render_corpus
from sftlens.world.generate import World, generate_world
from sftlens.world.presets import WorldSpec, resolve_spec

log = logging.getLogger(__name__)


@dataclass
class WorldResult:
    """What ``build_world`` made."""

    out: Path
    preset: str
    n_facts: int
    n_tokens: int
    n_params: int
    final_loss: float
    seconds: float
    stats: dict[str, Any]

    def summary(self) -> str:
        return (
            f"world '{self.preset}' → {self.out}: {self.n_facts} facts, {self.n_tokens} corpus tokens, "
            f"{self.n_params / 1e6:.2f}M params, final loss {self.final_loss:.3f}, {self.seconds:.1f}s"
        )


def relations_yaml(world: World) -> str:
    """``relations.yaml`` text (the schema in docs/architecture.md)."""
    data = {
        "relations": {
            rid: {
                "name": rel.name,
                "domain": rel.domain,
                "question": rel.question,
                "statements": list(rel.statements),
            }
            for rid, rel in world.relations.items()
        }
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def build_world(
    cfg: WorldConfig, out: Path, force: bool = False, progress: bool = True
) -> WorldResult:
    """Generate the world for ``cfg`` and pretrain its model into ``out``."""
    import torch

    from sftlens.determinism import deterministic_kernels
    from sftlens.world.pretrain import encode_lines, make_model, pretrain
    from sftlens.world.tokenizer import train_tokenizer

    t0 = time.perf_counter()
    spec = resolve_spec(cfg)
    device = resolve_device(cfg.device)
    world = generate_world(spec, cfg.seed)  # raises ConfigError before anything is written
    inputs = input_paths(cfg)
    out = check_out_dir(out, force, inputs=inputs)
    if device == "cpu":
        torch.set_num_threads(spec.threads)
    lines = render_corpus(world, spec, cfg.seed)
    tok = train_tokenizer(lines, spec.vocab_size)
    encoded = encode_lines(tok, lines)
    n_tokens = int(sum(len(x) for x in encoded))
    stats = corpus_stats(world, lines, n_tokens)
    model = make_model(spec, tok, cfg.seed)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("world %s: %d facts, %d lines, %d tokens, %.2fM params",
             cfg.preset, len(world.facts), len(lines), n_tokens, n_params / 1e6)  # fmt: skip
    with staged_out_dir(out, force, inputs) as staged:  # model, world and manifest appear together
        (staged / "world").mkdir()
        train_log = staged / "world" / "pretrain_log.jsonl"
        with deterministic_kernels(cfg.deterministic):
            rows = pretrain(model, encoded, spec, device, cfg.seed, train_log, progress)
        stats.update(n_params=n_params, train_seconds=round(time.perf_counter() - t0, 1))
        _write_world(staged / "world", world, lines, stats)
        model.to("cpu")  # type: ignore[arg-type]
        save_model(model, tok, staged / "model")
        seconds = time.perf_counter() - t0
        _write_manifest(staged, cfg, spec, stats, seconds)
    loss = rows[-1]["loss"] if rows else float("nan")
    return WorldResult(out, cfg.preset, len(world.facts), n_tokens, n_params, loss, seconds, stats)


def _write_world(path: Path, world: World, lines: list[str], stats: dict[str, Any]) -> None:
    write_table(path / "facts.jsonl", world.facts)
    (path / "relations.yaml").write_text(relations_yaml(world))
    (path / "corpus.txt").write_text("\n".join(lines) + "\n")
    atomic_write_json(path / "corpus_stats.json", stats)


def _write_manifest(
    out: Path, cfg: WorldConfig, spec: WorldSpec, stats: dict[str, Any], seconds: float
) -> None:
    atomic_write_json(
        out / "manifest.json",
        {
            "stage": "world",
            "config": dump_config(cfg),
            "spec": spec.to_dict(),
            "seconds": round(seconds, 1),
            "n_tokens": stats["n_tokens"],
            "n_params": stats["n_params"],
            "versions": versions(),
        },
    )
