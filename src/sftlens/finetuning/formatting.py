"""SFT sample formatting: prompt/target tokens, label masking, padded and packed batches.

Example::

    encs = encode_examples(tok, [{"question": "Where was Alice born?", "answer": "Paris"}])
    batch = collate_packed(encs)            # one row, position ids reset per sample
    mask = block_causal_mask(batch["seq_ids"], torch.float32)   # (1, 1, T, T)

The prompt formats (``paper``, ``chat``) are defined once in ``sftlens.prompts``;
the loss is on target tokens only.
Targets are stored already shifted (``targets[t]`` is the token that position ``t``
must predict, ``-100`` where there is no loss), so packing never leaks a loss
across sample boundaries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sftlens.errors import DataError
from sftlens.prompts import DEFAULT_FORMAT, get_format

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

IGNORE = -100


@dataclass(frozen=True)
class Encoded:
    """One tokenized sample: ``input_ids`` and shifted ``targets`` (same length)."""

    input_ids: list[int]
    targets: list[int]

    @property
    def n_targets(self) -> int:
        return sum(t != IGNORE for t in self.targets)


def encode_pair(
    tok: PreTrainedTokenizerBase,
    question: str,
    answer: str,
    fmt: str = DEFAULT_FORMAT,
    max_length: int = 256,
) -> Encoded:
    """Tokenize one QA pair in format ``fmt``; prompt tokens get no loss, prompts are cut from the left."""
    prompt, target = get_format(fmt).encode(tok, question, answer)
    target = target[: max_length - 1]
    prompt = prompt[-(max_length - len(target)) :]
    ids = prompt + target
    labels = [IGNORE] * len(prompt) + target
    return Encoded(input_ids=ids, targets=[*labels[1:], IGNORE])


def example_text(example: Mapping[str, Any], key: str, where: str) -> str:
    """``example[key]`` as a non-empty string, else a DataError naming ``where``."""
    value = example.get(key)
    if key == "answer" and value is None and example.get("answers"):
        value = next(iter(example["answers"]))
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: record has no '{key}'")
    return value.strip()


def encode_examples(
    tok: PreTrainedTokenizerBase,
    examples: Sequence[Mapping[str, Any]],
    fmt: str = DEFAULT_FORMAT,
    max_length: int = 256,
    source: str = "examples",
) -> list[Encoded]:
    """Tokenize every example (dicts with ``question`` and ``answer``)."""
    if not examples:
        raise DataError(f"{source}: no training examples")
    out = []
    for i, ex in enumerate(examples):
        where = f"{source}[{i}]" + (f" (id {ex['id']})" if "id" in ex else "")
        q, a = example_text(ex, "question", where), example_text(ex, "answer", where)
        out.append(encode_pair(tok, q, a, fmt, max_length))
    return out


def collate_padded(encs: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch: ``input_ids``, ``attention_mask``, ``targets``, all (B, T)."""
    import torch

    width = max(len(e.input_ids) for e in encs)
    ids = torch.full((len(encs), width), pad_id, dtype=torch.long)  # (B, T)
    targets = torch.full((len(encs), width), IGNORE, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(encs), width), dtype=torch.long)  # (B, T)
    for row, e in enumerate(encs):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        targets[row, :n] = torch.tensor(e.targets)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "targets": targets}


def collate_packed(encs: Sequence[Encoded]) -> dict[str, torch.Tensor]:
    """One row holding every sample: ``input_ids``, ``position_ids``, ``seq_ids``, ``targets`` (1, T)."""
    import torch

    ids = [t for e in encs for t in e.input_ids]
    targets = [t for e in encs for t in e.targets]
    pos = [p for e in encs for p in range(len(e.input_ids))]
    seq = [i for i, e in enumerate(encs) for _ in e.input_ids]
    return {
        "input_ids": torch.tensor([ids]),
        "position_ids": torch.tensor([pos]),
        "seq_ids": torch.tensor([seq]),
        "targets": torch.tensor([targets]),
    }


def block_causal_mask(seq_ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive 4D mask (B, 1, T, T): 0 where a token may attend, dtype-min elsewhere.

    A token attends to earlier-or-same tokens of its own sample only.
    """
    import torch

    t = seq_ids.shape[-1]
    same = seq_ids[:, :, None] == seq_ids[:, None, :]  # (B, T, T)
    causal = torch.ones(t, t, dtype=torch.bool, device=seq_ids.device).tril()  # (T, T)
    allowed = (same & causal)[:, None]  # (B, 1, T, T)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=seq_ids.device)
    return mask.masked_fill(~allowed, torch.finfo(dtype).min)
