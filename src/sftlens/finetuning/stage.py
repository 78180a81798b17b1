"""``sftlens finetune``: load a model, fine-tune it on an SFT set, save an HF checkpoint.

Example::

    sftlens finetune --model runs/world/model --train runs/sets/sets/L0-n240-s0.jsonl \
        --out runs/ft-L0 lr=1e-4

Writes ``<out>/model/`` (sharded safetensors + tokenizer, when ``save``),
``<out>/train_log.jsonl`` (step, loss, lr, grad_norm, tokens, precision) and
``manifest.json`` (with the precision that ran).  Inputs are checked (train file,
records, LoRA targets, ``--out``, launch, dtype, FSDP wrap class, memory plan) before
the model loads.  The outputs are built beside ``--out`` and swapped in at the end, so a
run that fails or is killed midway (also with ``--force``) leaves ``--out`` as it was.
With ``--plan`` (``plan=true``) it prints the per-GPU memory plan and stops.  Under a
process group only rank 0 writes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sftlens.config import dump_config
from sftlens.errors import ConfigError, DataError, SftlensError
from sftlens.finetuning.config import FinetuneConfig
from sftlens.finetuning.memory import MemoryPlan
from sftlens.outdir import check_out_dir, input_paths, staged_out_dir
from sftlens.runstore import RunDir, atomic_write_json, file_hash
from sftlens.tableio import iter_jsonl, write_table

log = logging.getLogger(__name__)


@dataclass
class FinetuneStageResult:
    """What ``run`` wrote."""

    out: Path
    steps: int
    final_loss: float
    seconds: float
    tokens: int
    model_dir: Path | None

    def summary(self) -> str:
        saved = f", model in {self.model_dir}" if self.model_dir else " (model not saved)"
        return (
            f"fine-tuned {self.steps} steps in {self.seconds:.1f}s "
            f"({self.tokens / max(self.seconds, 1e-9):.0f} tokens/s), final loss {self.final_loss:.4f}{saved}"
        )


def read_examples(path: str | Path) -> list[dict[str, Any]]:
    """Rows of an SFT set; each needs a non-empty ``question`` and ``answer`` (file:line errors)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"train file not found: {p}")
    rows = []
    for line, rec in iter_jsonl(p):
        if "answer" not in rec and ("answers" in rec or "split" in rec):
            raise DataError(
                f"{p}:{line}: a facts file, not an SFT set (it has 'answers'/'split'); "
                "make a set with `sftlens select --mastery MASTERY --data jsonl:FACTS`"
            )
        for key in ("question", "answer"):
            value = rec.get(key)
            if not isinstance(value, str) or not value.strip():
                rid = f" (id {rec['id']})" if "id" in rec else ""
                raise DataError(f"{p}:{line}: record{rid} has no '{key}'")
        rows.append(rec)
    if not rows:
        raise DataError(f"{p}: the train file holds no records")
    return rows


def check_out(out: Path, model: str, force: bool, inputs: list[Path]) -> None:
    """Refuse an ``--out`` that overlaps an input, is a model checkpoint or holds a fine-tune
    of another model."""
    check_out_dir(out, True, inputs=inputs)  # overlap, file, permissions: before the rest
    if (out / "config.json").is_file() or (out / "model.safetensors.index.json").is_file():
        raise SftlensError(f"--out {out} holds a model checkpoint; refusing to write into it")
    manifest = out / RunDir.MANIFEST
    if manifest.is_file():
        try:
            previous = (json.loads(manifest.read_text()).get("config") or {}).get("model")
        except (OSError, json.JSONDecodeError):
            previous = None
        if previous is not None and str(previous) != str(model):
            raise SftlensError(
                f"--out {out} already holds a model fine-tuned from {previous}, not {model}; "
                "choose another --out or remove it"
            )
    check_out_dir(out, force, inputs=inputs)


@dataclass
class PlanResult:
    """What ``--plan`` found (nothing is written)."""

    plan: MemoryPlan

    def summary(self) -> str:
        return self.plan.summary() + (" — fits" if self.plan.capacity is not None else "")


def run(cfg: FinetuneConfig, out: Path, *, force: bool = False) -> FinetuneStageResult | PlanResult:
    """Fine-tune ``cfg.model`` on ``cfg.train`` and write the outputs to ``out``.

    Everything is written into a temp dir beside ``out`` and swapped into place at
    the end, so a failed or killed run (also with ``force``) leaves ``out`` as it was.
    """
    from sftlens.finetuning.formatting import encode_examples
    from sftlens.finetuning.lora import lora_targets
    from sftlens.finetuning.parallel import is_main_process
    from sftlens.finetuning.preflight import preflight
    from sftlens.finetuning.trainer import finetune
    from sftlens.models import load_model, load_tokenizer, save_model

    if not cfg.model or not cfg.train:
        raise ConfigError("finetune needs --model and --train")
    out = Path(out)
    examples = read_examples(cfg.train)
    main = is_main_process(cfg.parallel)
    inputs = input_paths(cfg)
    if not cfg.plan and main:
        check_out(out, cfg.model, force, inputs)
    tok = load_tokenizer(cfg.model, padding_side="right")
    encs = encode_examples(tok, examples, cfg.prompt_format, cfg.max_length, source=str(cfg.train))
    plan = preflight(cfg, [len(e.input_ids) for e in encs])
    plan.check()  # the plan itself is printed by --plan, and logged once by the trainer on GPU
    if cfg.plan:
        return PlanResult(plan)
    model = load_model(cfg.model, dtype=cfg.dtype, device=cfg.device, check_finite=True)
    if cfg.lora.enabled:
        lora_targets(model, cfg.lora.target_modules)
    if not main:  # another rank writes
        return _result(out, finetune(model, tok, examples, cfg), cfg)
    with staged_out_dir(out, force, inputs) as tmp:
        run_dir = RunDir.create(tmp, config=dump_config(cfg), seed=cfg.seed)
        result = finetune(model, tok, examples, cfg)
        write_table(tmp / "train_log.jsonl", result.log)
        if cfg.save:
            save_model(result.model, tok, tmp / "model", cfg.max_shard_size)
        manifest = run_dir.manifest()
        manifest["train_sha256"] = file_hash(cfg.train)
        manifest["precision"] = result.precision
        manifest["result"] = {
            "steps": len(result.log),
            "seconds": result.seconds,
            "tokens": result.tokens,
        }
        atomic_write_json(tmp / RunDir.MANIFEST, manifest)
    return _result(out, result, cfg)


def _result(out: Path, result: Any, cfg: FinetuneConfig) -> FinetuneStageResult:
    final = result.log[-1]["loss"] if result.log else float("nan")
    model_dir = out / "model" if cfg.save else None
    return FinetuneStageResult(
        out, len(result.log), final, result.seconds, result.tokens, model_dir
    )
