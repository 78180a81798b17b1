"""The one generation engine, shared by probing, evaluation and analysis.

Example::

    from sftlens.generation import GenerationConfig, generate
    outs = generate(model, tok, ["Alice was born in"], GenerationConfig(n_samples=10, temperature=0.7))

``generate`` returns, per prompt, ``n_samples`` completions: the text after the
prompt under ``answer_span`` (``sftlens.newline_rule``): ``first_line`` ends it at EOS or
the first newline after answer text (newlines before the answer are skipped); ``full``
ends it at EOS only and strips it.

Reproducibility: a sampled completion is a function of (model, seed, prompt text,
sample index) only — not of the batch size, the batch a prompt lands in or the
order of the prompts — up to floating-point differences between batch shapes on
GPU.  Identical prompts in one call therefore get identical samples.
"""

from __future__ import annotations

from sftlens.generation.batching import plannable_memory
from sftlens.generation.cap_hits import CapHits
from sftlens.generation.config import GenerationConfig
from sftlens.generation.generate import generate

__all__ = ["CapHits", "GenerationConfig", "generate", "plannable_memory"]
