"""Pretrain a ``LlamaForCausalLM`` from scratch on the world corpus.

Example::

    model = make_model(spec, tok)
    log = pretrain(model, encode_lines(tok, lines), spec, device="cpu", seed=0, log_path=p)

Lines are encoded once (``<s> line \\n``), reshuffled every epoch and packed into
``seq_len`` blocks.  AdamW, linear warm-up then cosine decay to 10% of ``lr``; bf16
autocast on CUDA (optionally ``torch.compile``).  The loss log is JSONL.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sftlens.world.presets import WorldSpec
from sftlens.world.tokenizer import newline_id

if TYPE_CHECKING:
    import torch
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

log = logging.getLogger(__name__)


def make_model(spec: WorldSpec, tok: PreTrainedTokenizerFast, seed: int) -> LlamaForCausalLM:
    """A randomly initialised Llama sized by ``spec`` (fp32 weights)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=spec.hidden,
        intermediate_size=spec.intermediate,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        max_position_embeddings=max(512, spec.seq_len),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config)


def encode_lines(tok: PreTrainedTokenizerFast, lines: Sequence[str]) -> list[np.ndarray]:
    """Token ids of each line: ``<s>`` + line + newline (int32 arrays)."""
    nl = newline_id(tok)
    enc = tok(list(lines), add_special_tokens=True).input_ids
    return [np.asarray([*ids, nl], dtype=np.int32) for ids in enc]


def epoch_blocks(lines: list[np.ndarray], seq_len: int, rng: np.random.Generator) -> np.ndarray:
    """Shuffle lines, concatenate and cut into ``[n_blocks, seq_len]`` (remainder dropped)."""
    order = rng.permutation(len(lines))
    stream = np.concatenate([lines[i] for i in order])
    n = len(stream) // seq_len
    return stream[: n * seq_len].reshape(n, seq_len)


def lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up to ``peak``, cosine decay to ``0.1 * peak``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def pretrain(
    model: LlamaForCausalLM,
    lines: list[np.ndarray],
    spec: WorldSpec,
    device: str,
    seed: int,
    log_path: Path | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train ``model`` in place for ``spec.epochs`` epochs; return the loss log rows."""
    import torch
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    n_tokens = sum(len(x) for x in lines)
    steps_per_epoch = max(1, n_tokens // (spec.seq_len * spec.batch_size))
    total = max(1, round(spec.epochs * steps_per_epoch))
    warmup = max(1, round(spec.warmup_frac * total))
    _prepare(model, device)
    step_fn = _step_fn(model, device, spec)
    opt = _optimizer(model, device, spec)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    bar = tqdm(total=total, desc="pretrain", disable=not progress or None, mininterval=1.0)
    fh = log_path.open("w", buffering=1) if log_path is not None else None
    step = 0
    try:
        while step < total:
            blocks = epoch_blocks(lines, spec.seq_len, rng)  # [n_blocks, seq_len]
            for start in range(0, len(blocks) - spec.batch_size + 1, spec.batch_size):
                if step >= total:
                    break
                lr = lr_at(step, total, warmup, spec.lr)
                block = torch.from_numpy(blocks[start : start + spec.batch_size])
                batch = block.long().to(device, non_blocking=True)  # [batch, seq_len]
                loss = _train_step(model, opt, step_fn, batch, lr)
                step += 1
                if step % 10 == 0 or step == total:
                    rows.append(_log_step(step, loss, lr, t0, fh, bar))
                bar.update(1)
    finally:
        bar.close()
        if fh is not None:
            fh.close()
    model.eval()
    seconds = time.perf_counter() - t0
    log.info("pretrained %d steps (%d tokens/epoch) in %.1fs", total, n_tokens, seconds)
    return rows


def _prepare(model: LlamaForCausalLM, device: str) -> None:
    """Move ``model`` to ``device`` in train mode (TF32 matmuls on CUDA)."""
    import torch

    model.to(device)  # type: ignore[arg-type]
    model.train()
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True


def _optimizer(model: LlamaForCausalLM, device: str, spec: WorldSpec) -> Any:
    """AdamW (β = 0.9, 0.95) with the spec's lr and weight decay; fused on CUDA."""
    import torch

    return torch.optim.AdamW(
        model.parameters(),
        lr=spec.lr,
        betas=(0.9, 0.95),
        weight_decay=spec.weight_decay,
        fused=device.startswith("cuda"),
    )


def _train_step(model: LlamaForCausalLM, opt: Any, step_fn: Any, batch: Any, lr: float) -> Any:
    """One optimizer step at learning rate ``lr`` on ``batch`` [B, T]; returns the loss."""
    import torch

    for group in opt.param_groups:
        group["lr"] = lr
    loss = step_fn(batch)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss


def _log_step(step: int, loss: Any, lr: float, t0: float, fh: Any, bar: Any) -> dict[str, Any]:
    """The loss-log row of ``step``, written to ``fh`` (if any) and shown on ``bar``."""
    row = {
        "step": step,
        "loss": float(loss.item()),
        "lr": lr,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if fh is not None:
        fh.write(json.dumps(row) + "\n")
    bar.set_postfix(loss=f"{row['loss']:.3f}")
    return row


def _step_fn(model: LlamaForCausalLM, device: str, spec: WorldSpec) -> Any:
    """Forward pass → mean next-token loss; bf16 autocast on CUDA, compiled when asked."""
    import torch

    use_bf16 = device.startswith("cuda") and spec.dtype in ("auto", "bfloat16")

    def forward(batch: torch.Tensor) -> torch.Tensor:  # batch: [B, T]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(input_ids=batch).logits  # [B, T, V]
        logits = logits[:, :-1].float()
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), batch[:, 1:].reshape(-1)
        )

    if spec.compile and device.startswith("cuda"):
        return torch.compile(forward)
    return forward
