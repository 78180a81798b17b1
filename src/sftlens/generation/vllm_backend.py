"""Optional vLLM backend (``backend="vllm"``): imported only when chosen.

vLLM is not installed here or in CI: the tests drive this adapter with a stand-in
``vllm`` module (parameters, per-prompt seeds, output shape), not vLLM itself.  ``model`` is a ``vllm.LLM`` or a model
id / path from which one is built.  Seeds are per request, from (seed, prompt text) as in the HF
engine, so results do not depend on batching, but the samples differ from the HF engine's.
The text is the answer under ``answer_span`` (``sftlens.newline_rule.answer_text``); vLLM's
stop strings cannot skip the newlines before an answer, so a completion runs to EOS or
``max_new_tokens`` and is cut afterwards (``first_line``) or kept whole, stripped (``full``).
It hit the cap when vLLM stopped it for length and (``first_line``) no newline ended its answer.

Example::

    generate("meta-llama/Meta-Llama-3-8B", tok, prompts, GenerationConfig(backend="vllm", n_samples=10))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sftlens.errors import SftlensError
from sftlens.generation.cap_hits import CapHits
from sftlens.generation.config import GenerationConfig
from sftlens.generation.sampling import prompt_key
from sftlens.newline_rule import answer_text, ends_at_newline


def require_vllm() -> Any:
    """The ``vllm`` module, or a one-line error (checked before a stage writes anything)."""
    try:
        import vllm
    except ImportError:
        raise SftlensError("backend 'vllm' needs vLLM: pip install 'sftlens[vllm]'") from None
    return vllm


def load_vllm(name: str, seed: int = 0, dtype: str = "auto") -> Any:
    """Build a ``vllm.LLM`` once (reuse it across calls: building one takes minutes)."""
    return require_vllm().LLM(model=name, seed=seed, dtype=dtype)


def generate_vllm(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    cfg: GenerationConfig,
    cap_hits: CapHits | None = None,
) -> list[list[str]]:
    """Generate with vLLM; same return shape as :func:`sftlens.generation.generate`."""
    llm = (
        model
        if hasattr(model, "generate") and hasattr(model, "llm_engine")
        else load_vllm(str(model), cfg.seed)
    )
    import vllm

    params = [
        vllm.SamplingParams(
            n=cfg.n_samples,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            top_k=cfg.top_k if cfg.top_k > 0 else -1,
            max_tokens=cfg.max_new_tokens,
            ignore_eos=cfg.ignore_eos,
            seed=prompt_key(p, cfg.seed) % (1 << 31),
        )
        for p in prompts
    ]
    outs = llm.generate(list(prompts), params, use_tqdm=False)
    if cap_hits is not None:
        cap_hits.add([_hit_cap(c, cfg) for o in outs for c in o.outputs])
    return [[answer_text(c.text, cfg.answer_span) for c in o.outputs] for o in outs]


def _hit_cap(completion: Any, cfg: GenerationConfig) -> bool:
    """Whether vLLM stopped ``completion`` for length before its answer ended."""
    if getattr(completion, "finish_reason", None) != "length":
        return False
    return not (cfg.stop_at_newline and ends_at_newline(completion.text))
