"""Differences between the `transformers` releases sftlens supports, in one place.

Example::

    from sftlens.hf_compat import dtype_kwarg
    model = AutoModelForCausalLM.from_pretrained(path, **{dtype_kwarg(): torch.bfloat16})
"""

from __future__ import annotations


def dtype_kwarg() -> str:
    """transformers ≥4.56 names it ``dtype``; older releases ``torch_dtype``."""
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
