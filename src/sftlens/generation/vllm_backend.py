"""Optional vLLM backend (``backend="vllm"``): imported only when chosen.

UNTESTED here (vLLM is not installed in CI).  ``model`` is a ``vllm.LLM`` or a model
id / path from which one is built.  Seeds are per request (``seed + prompt index``),
so results are reproducible for one prompt order but differ from the HF engine's.

Example::

    generate("meta-llama/Meta-Llama-3-8B", tok, prompts, GenerationConfig(backend="vllm", n_samples=10))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sftlens.errors import SftlensError
from sftlens.generation.config import GenerationConfig


def generate_vllm(
    model: Any, tokenizer: Any, prompts: Sequence[str], cfg: GenerationConfig
) -> list[list[str]]:
    """Generate with vLLM; same return shape as :func:`sftlens.generation.generate`."""
    try:
        import vllm
    except ImportError:
        raise SftlensError("backend 'vllm' needs vLLM: pip install 'sftlens[vllm]'") from None
    llm = model if isinstance(model, vllm.LLM) else vllm.LLM(model=str(model), seed=cfg.seed)
    stop = ["\n"] if cfg.stop_at_newline else None
    params = [
        vllm.SamplingParams(
            n=cfg.n_samples,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            top_k=cfg.top_k if cfg.top_k > 0 else -1,
            max_tokens=cfg.max_new_tokens,
            stop=stop,
            ignore_eos=cfg.ignore_eos,
            seed=cfg.seed + i,
        )
        for i in range(len(prompts))
    ]
    outs = llm.generate(list(prompts), params, use_tqdm=False)
    return [[c.text.split("\n", 1)[0] for c in o.outputs] for o in outs]
