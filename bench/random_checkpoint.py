"""Write a random-weight Llama checkpoint of a named shape and a synthetic SFT set for it.

For fine-tuning benchmarks of real model sizes without downloads: the checkpoint (safetensors,
bf16 on CUDA, fp32 on CPU) and its tokenizer load with plain ``AutoModelForCausalLM`` and
``sftlens finetune --model DIR``; the set is ``.jsonl`` rows with ``question`` and ``answer``.

Example::

    python bench/random_checkpoint.py --shape 8b --device cuda --samples 160 \
        --out /tmp/f8/model --train /tmp/f8/train.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sft import build_model, build_tokenizer, synthetic_examples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="tiny", help="tiny | 1b | 8b (bench/common.py)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--samples", type=int, default=160)
    ap.add_argument("--out", type=Path, required=True, help="checkpoint directory")
    ap.add_argument("--train", type=Path, required=True, help="SFT set (.jsonl)")
    args = ap.parse_args()
    examples = synthetic_examples(args.samples)
    tok = build_tokenizer(examples)
    model = build_model(
        argparse.Namespace(world=None, shape=args.shape, device=args.device, attn="auto"), tok
    )
    model.save_pretrained(args.out, safe_serialization=True)
    tok.save_pretrained(args.out)
    args.train.parent.mkdir(parents=True, exist_ok=True)
    args.train.write_text("".join(json.dumps(e) + "\n" for e in examples))
    params = sum(p.numel() for p in model.parameters())
    print(
        f"{args.shape}: {params / 1e9:.2f}B parameters → {args.out}; {len(examples)} samples → {args.train}"
    )


if __name__ == "__main__":
    main()
