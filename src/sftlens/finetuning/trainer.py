"""The one SFT loop: full or LoRA fine-tuning on accelerate, with padding-free packing.

Example::

    result = finetune(model, tok, [{"question": "Where was Alice born?", "answer": "Paris"}], cfg)
    tuned = result.model            # trained in place; LoRA adapters merged (a plain HF model)

Run data-parallel with ``accelerate launch --num_processes N -m sftlens finetune ...``:
every process builds the same batch plan, takes its share of each micro-batch, and
scales its summed loss by ``world / global target tokens`` so the gradient equals a
single process's on the same global batch.  Logits are computed only at target
positions (the loss ignores the rest), which saves the LM-head matmul on prompts.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from sftlens.errors import ConfigError
from sftlens.finetuning.config import FinetuneConfig
from sftlens.finetuning.formatting import (
    IGNORE,
    Encoded,
    block_causal_mask,
    collate_packed,
    collate_padded,
    encode_examples,
)
from sftlens.finetuning.lora import add_lora
from sftlens.finetuning.memory import check_memory
from sftlens.finetuning.parallel import ModelTemplate, gathered_lm, make_accelerator, parallel_kind
from sftlens.finetuning.precision import (
    Precision,
    enter_training,
    leave_training,
    make_adamw,
    optimizer_step,
    resolve_precision,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)


@dataclass
class FinetuneResult:
    """Tuned model (LoRA merged; None on FSDP ranks > 0), log rows, seconds, precision that ran."""

    model: Any
    log: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    tokens: int = 0
    precision: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        last = self.log[-1]["loss"] if self.log else float("nan")
        return f"{len(self.log)} steps, final loss {last:.4f}, {self.tokens / max(self.seconds, 1e-9):.0f} tokens/s"


class SFTLoss(nn.Module):
    """Wraps a causal LM; ``forward(batch)`` is the summed target-token cross-entropy.

    Wrapping (instead of calling the LM's submodules from outside) lets DDP/FSDP hook
    the forward.  The LM head runs only on target positions when the model allows it.
    """

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.lm = lm
        cfg = getattr(lm, "config", None)
        scaled = any(
            getattr(cfg, k, None) not in (None, 1.0)
            for k in ("final_logit_softcapping", "logit_scale", "logits_scaling")
        )
        decoder, head = self._parts()
        self.fast = decoder is not None and decoder is not lm and head is not None and not scaled

    def _parts(self) -> tuple[Any, Any]:
        """The LM's decoder stack and output head (``None`` where the model has none)."""
        lm: Any = self.lm
        decoder = lm.get_decoder() if hasattr(lm, "get_decoder") else None
        head = lm.get_output_embeddings() if hasattr(lm, "get_output_embeddings") else None
        return decoder, head

    def token_losses(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Cross-entropy of every target token, in sample order: (N,)."""
        index, labels = batch.get("target_index"), batch.get("target_ids")
        if index is None or labels is None:
            index, labels = target_positions(batch["targets"])
        kwargs = {k: batch[k] for k in ("attention_mask", "position_ids") if k in batch}
        if self.fast:
            decoder, head = self._parts()
            out = decoder(input_ids=batch["input_ids"], use_cache=False, **kwargs)
            hidden = out[0]  # (B, T, H)
            logits = head(hidden.flatten(0, 1)[index])  # (N, V)
        else:
            out = self.lm(input_ids=batch["input_ids"], use_cache=False, **kwargs)
            logits = out.logits.flatten(0, 1)[index]  # (N, V)
        return F.cross_entropy(logits.float(), labels, reduction="none")  # (N,)

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.token_losses(batch).sum()


def target_positions(targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat indices (N,) of the positions with a loss, and their target ids (N,)."""
    flat = targets.reshape(-1)  # (B*T,)
    index = (flat != IGNORE).nonzero().squeeze(1)  # (N,)
    return index, flat[index]


def packing_mode(model: nn.Module, packing: bool) -> str:
    """``varlen`` (flash-attn reads position ids), ``block`` (4D mask) or ``pad``."""
    if not packing:
        return "pad"
    impl = str(getattr(getattr(model, "config", None), "_attn_implementation", "") or "")
    return "varlen" if impl.startswith("flash_attention") else "block"


def make_batch(
    encs: Sequence[Encoded], mode: str, pad_id: int, device: torch.device, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """Collate ``encs`` for ``mode`` and move to ``device`` (the 4D mask is built there)."""
    raw = collate_padded(encs, pad_id) if mode == "pad" else collate_packed(encs)
    raw["target_index"], raw["target_ids"] = target_positions(raw["targets"])  # on CPU: no GPU sync
    pin = device.type == "cuda"
    batch = {k: (v.pin_memory() if pin else v).to(device, non_blocking=pin) for k, v in raw.items()}
    seq = batch.pop("seq_ids", None)
    if mode == "block" and seq is not None:
        batch["attention_mask"] = block_causal_mask(seq, dtype)  # (1, 1, T, T)
    return batch


def plan_batches(n: int, cfg: FinetuneConfig) -> list[list[int]]:
    """Micro-batches of sample indices for all epochs (same on every process)."""
    rng = random.Random(cfg.seed)
    plan: list[list[int]] = []
    for _ in range(cfg.epochs):
        order = list(range(n))
        if cfg.shuffle:
            rng.shuffle(order)
        plan.extend(order[i : i + cfg.batch_size] for i in range(0, n, cfg.batch_size))
    return plan


def make_optimizer(
    model: nn.Module, cfg: FinetuneConfig, device: torch.device, prec: Precision
) -> torch.optim.Optimizer:
    """AdamW without decay on 1-D tensors (norms, biases); fused on CUDA; Kahan-summed
    (torch-optimi) for ``precision=kahan``."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return make_adamw([g for g in groups if g["params"]], cfg.lr, prec, device)


def make_scheduler(opt: torch.optim.Optimizer, cfg: FinetuneConfig, steps: int) -> Any:
    """HF's schedulers (so the benchmark's Trainer baseline matches), warm-up by ratio."""
    from transformers import get_scheduler

    name = {"constant": "constant_with_warmup"}.get(cfg.scheduler, cfg.scheduler)
    warmup = math.ceil(cfg.warmup_ratio * steps)
    return get_scheduler(name, opt, num_warmup_steps=warmup, num_training_steps=steps)


def _share(idxs: list[int], rank: int, world: int) -> tuple[list[int], float]:
    """This process's part of a micro-batch; an empty part reuses one sample with weight 0."""
    part = idxs[rank::world]
    return (part, 1.0) if part else (idxs[:1], 0.0)


@dataclass(frozen=True)
class Batching:
    """How micro-batches are collated: packing mode, pad id, target device and dtype."""

    mode: str
    pad_id: int
    device: torch.device
    dtype: torch.dtype


def finetune(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Mapping[str, Any]],
    cfg: FinetuneConfig,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune ``model`` in place on QA ``examples``; return it (LoRA merged unless ``lora.merge`` is off).

    In a process group every rank calls this with the same inputs (FSDP: model on rank 0 only)."""
    encs = encode_examples(tokenizer, examples, cfg.prompt_format, cfg.max_length, source="train")
    torch.manual_seed(cfg.seed)
    grad_flags = {n: p.requires_grad for n, p in model.named_parameters()}
    prec = resolve_precision(cfg.precision, next(model.parameters()).dtype)
    kind = parallel_kind(cfg.parallel)
    if kind == "fsdp" and cfg.lora.enabled:
        raise ConfigError("LoRA with parallel=fsdp is not supported; use parallel=ddp")
    lm: nn.Module = add_lora(model, cfg.lora) if cfg.lora.enabled else model
    device = next(model.parameters()).device
    plan = plan_batches(len(encs), cfg)
    steps = math.ceil(len(plan) / cfg.grad_accum)
    check_memory(lm, prec, kind, cfg.batch_size, [len(e.input_ids) for e in encs], device)
    enter_training(lm, prec)
    acc = make_accelerator(kind, prec, device, lm)
    template = ModelTemplate.of(lm) if kind == "fsdp" else None
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    compiled = compiled_layers(lm) if cfg.compile else []
    try:
        loss_mod: nn.Module = SFTLoss(lm)
        opt = make_optimizer(loss_mod, cfg, device, prec)
        if kind != "single":  # FSDP2 shards model and optimizer together
            loss_mod, opt = acc.prepare(loss_mod, opt)
            device = acc.device
        sched = make_scheduler(opt, cfg, steps)
        batching = Batching(packing_mode(model, cfg.packing), pad_id, device, prec.compute_dtype)
        rows, seconds = train_loop(loss_mod, opt, sched, encs, plan, cfg, acc, batching, progress)
        single = kind == "single"
        trained = lm if single else gathered_lm(acc, loss_mod, kind, template, prec.base_dtype)  # type: ignore[arg-type]
        del opt, sched
    finally:
        uncompile(compiled)  # also when training fails: the caller's model runs eagerly again
    tuned = _finish(trained, cfg, grad_flags, prec) if trained is not None else None
    tokens = sum(r["tokens"] for r in rows)
    for row in rows:
        row["precision"] = prec.mode
    log.info("fine-tuned %d samples in %d steps, %.1fs (%.0f tokens/s), precision %s",
             len(encs), steps, seconds, tokens / max(seconds, 1e-9), prec.mode)  # fmt: skip
    return FinetuneResult(tuned, rows, seconds, tokens, prec.describe())


def train_loop(
    loss_mod: nn.Module,
    opt: torch.optim.Optimizer,
    sched: Any,
    encs: Sequence[Encoded],
    plan: Sequence[list[int]],
    cfg: FinetuneConfig,
    acc: Any,
    batching: Batching,
    progress: bool,
) -> tuple[list[dict[str, Any]], float]:
    """All optimizer steps of ``plan``; the per-step log rows and the wall seconds.

    Losses and gradient norms stay on the device and are read back once at the end
    (and every ``log_every`` steps for the progress bar), so the loop does not sync.
    """
    from tqdm.auto import tqdm

    steps = math.ceil(len(plan) / cfg.grad_accum)
    device = batching.device
    losses = torch.zeros(steps, device=device)  # (steps,)
    norms = torch.full((steps,), float("nan"), device=device)  # (steps,)
    rows: list[dict[str, Any]] = []
    loss_mod.train()
    start = time.perf_counter()
    quiet = not progress or acc.process_index != 0 or None
    bar = tqdm(total=steps, desc="finetune", unit="step", disable=quiet)
    for step in range(steps):
        window = plan[step * cfg.grad_accum : (step + 1) * cfg.grad_accum]
        rows.append(log_row(step, window, encs, cfg, sched.get_last_lr()[0]))
        losses[step] = accumulate(loss_mod, acc, encs, window, batching)
        norm = optimizer_step(acc, opt, list(loss_mod.parameters()), cfg.max_grad_norm)
        if norm is not None:  # under FSDP2 the norm is a DTensor: take its full value
            norms[step] = norm.full_tensor() if hasattr(norm, "full_tensor") else norm
        sched.step()
        opt.zero_grad(set_to_none=True)
        bar.update(1)
        if (step + 1) % cfg.log_every == 0 or step + 1 == steps:
            bar.set_postfix(loss=f"{losses[step].item():.4f}", lr=f"{rows[-1]['lr']:.2e}")
    bar.close()
    if acc.num_processes > 1:
        losses = acc.reduce(losses, reduction="sum")
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    for row, loss_v, norm_v in zip(rows, losses.tolist(), norms.tolist(), strict=True):
        row["loss"] = loss_v
        row["grad_norm"] = None if math.isnan(norm_v) else norm_v
    return rows, seconds


def log_row(
    step: int, window: Sequence[list[int]], encs: Sequence[Encoded], cfg: FinetuneConfig, lr: float
) -> dict[str, Any]:
    """The log row of one optimizer step (loss and grad norm are added at the end)."""
    steps_per_epoch = max(1, math.ceil(len(encs) / cfg.batch_size))
    return {
        "step": step + 1,
        "epoch": (step * cfg.grad_accum) // steps_per_epoch + 1,
        "lr": lr,
        "samples": sum(len(idxs) for idxs in window),
        "tokens": sum(len(encs[i].input_ids) for idxs in window for i in idxs),
        "target_tokens": sum(encs[i].n_targets for idxs in window for i in idxs),
    }


def accumulate(
    loss_mod: nn.Module,
    acc: Any,
    encs: Sequence[Encoded],
    window: Sequence[list[int]],
    batching: Batching,
) -> torch.Tensor:
    """Forward + backward over one optimizer step's micro-batches; the step's mean loss (0-d).

    Each process takes its share of every micro-batch and scales its summed token loss by
    ``world / target tokens of the whole step``, so the gradient equals one process's.
    """
    world, rank = acc.num_processes, acc.process_index
    n_targets = sum(encs[i].n_targets for idxs in window for i in idxs)
    total = torch.zeros((), device=batching.device)
    for j, idxs in enumerate(window):
        part, weight = _share(idxs, rank, world)
        b = batching
        batch = make_batch([encs[i] for i in part], b.mode, b.pad_id, b.device, b.dtype)
        sync = j == len(window) - 1 or world == 1
        with contextlib.nullcontext() if sync else acc.no_sync(loss_mod):
            with acc.autocast():
                loss = loss_mod(batch) * (weight * world / max(n_targets, 1))
            acc.backward(loss)
        total += loss.detach() / world
    return total


def compiled_layers(lm: nn.Module) -> list[nn.Module]:
    """``torch.compile`` every decoder layer in place (state-dict names stay the same)."""
    decoder: Any = lm.get_decoder() if hasattr(lm, "get_decoder") else None  # type: ignore[operator]
    layers = getattr(decoder, "layers", None) or getattr(decoder, "h", None)
    modules = list(layers) if layers is not None else [decoder or lm]
    for module in modules:
        module.compile(dynamic=True)
    return modules


def uncompile(modules: Sequence[nn.Module]) -> None:
    """Undo :func:`compiled_layers` (evaluation's decode shapes would recompile)."""
    for module in modules:
        module._compiled_call_impl = None


def _finish(
    lm: nn.Module, cfg: FinetuneConfig, grad_flags: dict[str, bool], prec: Precision
) -> nn.Module:
    """Eval mode; LoRA merged into a plain model with the original ``requires_grad`` flags;
    weights rounded back to the model's dtype (after the merge: the delta is added in fp32)."""
    if cfg.lora.enabled and cfg.lora.merge:
        lm = lm.merge_and_unload()  # type: ignore[operator]
        for name, p in lm.named_parameters():
            p.requires_grad_(grad_flags.get(name, True))
    leave_training(lm, prec)
    lm.eval()
    return lm
