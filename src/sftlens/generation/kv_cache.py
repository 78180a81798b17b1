"""A KV cache whose layers are allocated once per batch and filled in place.

HF's ``DynamicCache`` grows each layer with ``torch.cat`` at every decode step, so
step t copies the whole cache (rows × heads × (prompt + t) × head dim, keys and
values, every layer).  For a Llama-3-8B-shaped probe batch (2,560 rows, 32 new
tokens) those copies took 7% of the GPU time (``bench/profile_gpu.py``).  The
engine knows the final length up front (prompt width + max new tokens), so
:class:`PreallocatedLayer` allocates that capacity at the prefill and writes each
new token into its slot; attention reads a view of the filled part.

Plain full-attention layers (``DynamicLayer``) are replaced; so are sliding-window layers
(``DynamicSlidingWindowLayer``, e.g. 15 of Gemma 3's 18) when the whole batch fits inside the
window (capacity < window): then no token ever leaves the window, and HF's layer would copy
its full cache with ``torch.cat`` at every step to the same effect.  Other layer kinds, longer
batches, and transformers versions without cache layers keep HF's cache unchanged.

A batch may also be prefilled in chunks of rows, each through its own small cache;
:func:`place_prefill` copies a chunk's keys/values into the batch's cache,
right-aligned, as one left-padded prefill would have left them.

Example::

    cache = new_cache(model, capacity=prompt_width + max_new_tokens)
    logits = model(input_ids=ids, past_key_values=cache, use_cache=True).logits
"""

from __future__ import annotations

import functools
from typing import Any

import torch


def _dynamic_layer() -> type | None:
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:  # transformers < 4.56: caches have no layer objects
        return None
    return DynamicLayer


def _sliding_layer() -> type | None:
    try:
        from transformers.cache_utils import DynamicSlidingWindowLayer
    except ImportError:
        return None
    return DynamicSlidingWindowLayer


def _expose(self: Any) -> None:
    """Point ``keys``/``values`` at the filled part of the buffers."""
    assert self._k is not None and self._v is not None
    self.keys = self._k[:, :, : self._len]  # (B, H, len, D) view
    self.values = self._v[:, :, : self._len]


def _grow(self: Any, need: int) -> None:
    """Reallocate the buffers to hold at least ``need`` tokens (double the capacity)."""
    assert self._k is not None and self._v is not None
    cap = max(need, 2 * self._k.shape[2])
    k = self._k.new_empty((*self._k.shape[:2], cap, self._k.shape[3]))
    v = self._v.new_empty((*self._v.shape[:2], cap, self._v.shape[3]))
    k[:, :, : self._len] = self._k[:, :, : self._len]
    v[:, :, : self._len] = self._v[:, :, : self._len]
    self._k, self._v = k, v


def _update(
    self: Any, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Write the new tokens' keys/values in place; return the filled views."""
    if self._slot is not None:  # fixed addresses (fix_addresses): one token into its column
        self._k.index_copy_(2, self._slot, key_states)  # (B, H, C, D) <- (B, H, 1, D)
        self._v.index_copy_(2, self._slot, value_states)
        return self._k, self._v
    b, h, q, d = key_states.shape  # new tokens: (B, H, q, D)
    if getattr(self, "is_sliding", False) and self._len + q >= self.sliding_window:
        raise RuntimeError(f"a preallocated sliding layer cannot hold {self._len + q} tokens")
    if self._k is None:
        self.device = key_states.device
        self.is_initialized = True
        cap = max(self.capacity, q)
        self._k = key_states.new_empty((b, h, cap, d))
        self._v = value_states.new_empty((b, h, cap, value_states.shape[-1]))
    elif self._len + q > self._k.shape[2]:
        self._grow(self._len + q)  # only when a caller decodes past the capacity
    assert self._k is not None and self._v is not None
    self._k[:, :, self._len : self._len + q] = key_states
    self._v[:, :, self._len : self._len + q] = value_states
    self._len += q
    self._expose()
    return self.keys, self.values


def _get_seq_length(self: Any, *args: Any) -> int:
    return int(self._len)


def _reset(self: Any) -> None:
    self._k = self._v = None
    self.keys = self.values = None
    self._len = 0
    self.is_initialized = False


def _crop(self: Any, tokens_to_remove: int) -> None:
    if tokens_to_remove > 0:
        raise ValueError("crop takes a negative count of tokens to remove")
    if self._k is not None and tokens_to_remove:
        self._len = max(0, self._len + tokens_to_remove)
        self._expose()


def _batch_repeat_interleave(self: Any, repeats: int) -> None:
    if self._k is not None and self._v is not None and self._len:
        self._k = self._k.repeat_interleave(repeats, dim=0)
        self._v = self._v.repeat_interleave(repeats, dim=0)
        self._expose()


def _batch_select_indices(self: Any, indices: torch.Tensor) -> None:
    if self._k is not None and self._v is not None and self._len:
        self._k = self._k[indices]
        self._v = self._v[indices]
        self._expose()


@functools.cache
def _layer_classes() -> tuple[type, type] | None:
    """(``PreallocatedLayer``, ``PreallocatedSlidingLayer``), built on this transformers'
    ``DynamicLayer`` (None without one)."""
    base = _dynamic_layer()
    if base is None:
        return None

    class PreallocatedLayer(base):  # type: ignore[misc, valid-type]
        """A full-attention cache layer with fixed capacity: (B, H, capacity, D) buffers."""

        def __init__(self, capacity: int) -> None:
            super().__init__()
            self.capacity = capacity
            self._k: torch.Tensor | None = None  # (B, H, capacity, D)
            self._v: torch.Tensor | None = None  # (B, H, capacity, Dv)
            self._len = 0
            self._slot: torch.Tensor | None = None  # (1,) column of the next token (fixed mode)

        _expose = _expose
        _grow = _grow
        update = _update
        get_seq_length = _get_seq_length
        reset = _reset
        crop = _crop
        batch_repeat_interleave = _batch_repeat_interleave
        batch_select_indices = _batch_select_indices

    class PreallocatedSlidingLayer(PreallocatedLayer):
        """A sliding-window layer whose batch never fills its window (capacity < window):
        it keeps every token, as HF's sliding layer does below the window, without copying."""

        is_sliding = True

        def __init__(self, capacity: int, sliding_window: int) -> None:
            if capacity >= sliding_window:
                raise ValueError(f"capacity {capacity} does not fit a window of {sliding_window}")
            super().__init__(capacity)
            self.sliding_window = sliding_window

    return PreallocatedLayer, PreallocatedSlidingLayer


def preallocated_layer(capacity: int, sliding_window: int | None = None) -> Any:
    """A new :class:`PreallocatedLayer` (a ``DynamicLayer`` subclass) of ``capacity`` tokens;
    with ``sliding_window`` (> capacity) a ``PreallocatedSlidingLayer``."""
    classes = _layer_classes()
    if classes is None:
        raise RuntimeError("this transformers version has no cache layers")
    full, sliding = classes
    return full(capacity) if sliding_window is None else sliding(capacity, sliding_window)


def is_preallocated(cache: Any) -> bool:
    """True when every layer of ``cache`` is preallocated (and there is one)."""
    classes = _layer_classes()
    layers = getattr(cache, "layers", None) or []
    return classes is not None and bool(layers) and all(type(x) in classes for x in layers)


def place_prefill(cache: Any, part: Any, rows: torch.Tensor, width: int, batch: int) -> None:
    """Copy a chunk's prefilled keys/values into rows ``rows`` of ``cache``.

    ``part`` (a cache of the chunk's r rows, filled to its width w <= ``width``) lands
    right-aligned in columns [width - w, width) of ``rows``; the columns left of it stay
    zero (masked padding).  The first call allocates ``cache``'s buffers (``batch`` rows,
    its capacity); after every call ``cache`` reads as filled to ``width``.  Both caches
    must be preallocated (:func:`is_preallocated`).
    """
    for big, small in zip(cache.layers, part.layers, strict=True):
        k, v = small.keys, small.values  # (r, H, w, D), (r, H, w, Dv)
        if big._k is None:
            cap = max(big.capacity, width)
            big._k = k.new_zeros((batch, k.shape[1], cap, k.shape[3]))  # (batch, H, cap, D)
            big._v = v.new_zeros((batch, v.shape[1], cap, v.shape[3]))
            big.device, big.is_initialized = k.device, True
        w = k.shape[2]
        big._k[rows, :, width - w : width] = k  # (r, H, w, D) into the chunk's rows
        big._v[rows, :, width - w : width] = v
        big._len = width
        big._expose()


def fix_addresses(cache: Any, slot: torch.Tensor, width: int) -> None:
    """Switch every layer of a preallocated ``cache``, filled to ``width``, to fixed addresses:
    a one-token update then writes into column ``slot`` (a (1,) long tensor the caller moves)
    and returns the whole (B, H, capacity, D) buffers, so every decode step reads and writes
    the same tensors (what a CUDA graph replays).  A mask hides the unfilled columns, zeroed
    here (0 x NaN would leak through attention)."""
    for layer in cache.layers:
        if layer._k is not None:
            layer._k[:, :, width:].zero_()
            layer._v[:, :, width:].zero_()
        layer._slot = slot


def new_cache(model: Any, capacity: int | None = None) -> Any:
    """A ``DynamicCache`` for ``model``; with ``capacity``, its full-attention layers preallocated."""
    from transformers import DynamicCache

    try:
        cache = DynamicCache(config=model.config)
    except TypeError:  # transformers < 4.56
        return DynamicCache()
    layers = getattr(cache, "layers", None)
    if capacity is None or _dynamic_layer() is None or not layers:
        return cache
    cache.layers = [_preallocated_or_same(layer, capacity) for layer in layers]
    return cache


def _preallocated_or_same(layer: Any, capacity: int) -> Any:
    """A preallocated layer in place of HF's full layer, or of its sliding layer whose window
    the batch never fills; any other layer is kept."""
    if type(layer) is _dynamic_layer():
        return preallocated_layer(capacity)
    window = getattr(layer, "sliding_window", None)
    if type(layer) is _sliding_layer() and isinstance(window, int) and capacity < window:
        return preallocated_layer(capacity, sliding_window=window)
    return layer
