"""One decode step of the engine, eager or (opt-in, ``decode_graph``) replayed as a CUDA graph.

A Gemma 3 270M forward pass launches about 1,560 kernels; where the GPU finishes them faster
than Python issues them, replaying them as one graph saves the launches.  :class:`GraphedSteps` runs the step over tensors whose addresses never change
(the preallocated cache in fixed-address mode, ``kv_cache.fix_addresses``; the input ids,
positions and a (rows, 1, 1, capacity) boolean mask kept as buffers), so after one eager
warm-up step it captures the forward pass once and replays it for every later step: a few
launches per step instead of ~1,560.  Dropping finished rows changes the tensors, so the
graph is captured again after each compaction (graphed runs compact less often).

Attention sees the same columns as the eager step (the filled prompt and the tokens so far);
the unfilled columns are masked and hold zeros.  Greedy tokens equal the eager engine's in
float32 (tests); in bf16 attention over the longer, masked rows may round differently.
If a capture fails (a model whose forward pass syncs with the host), the steps go on eagerly
over the same buffers, with one warning.  Measured on an H200 (docs/benchmarks.md) the graphs
gained nothing consistent for Gemma 3 270M's probe and evaluation or the gpu world's restore
sweeps (each step there is bound by the GPU or re-captured after compactions), so eager steps
stay the default.

Example::

    steps = step_runner(model, cache, mask, width, graph=True)   # after the prefill
    logits = steps.step(next_tokens, next_positions, t)          # (rows, V)
"""

from __future__ import annotations

import inspect
import logging
from functools import lru_cache
from typing import Any

import torch

from sftlens.generation.kv_cache import fix_addresses, is_preallocated

log = logging.getLogger(__name__)
EAGER_COMPACT_SHARE = 8  # drop finished rows once 1/8 of the batch has finished
GRAPHED_COMPACT_SHARE = 2  # a graphed run re-captures after dropping rows: only at 1/2
_warned: set[str] = set()


@lru_cache(maxsize=32)
def _forward_kwargs(cls: Any) -> tuple[str, str | None]:
    """(cache kwarg, logits-to-keep kwarg) for this model class across transformers versions."""
    params = inspect.signature(cls.forward).parameters
    cache_kw = "cache" if "cache" in params else "past_key_values"
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in params:
            return cache_kw, name
    return cache_kw, None


def forward_last(
    model: Any, cache: Any, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor
) -> torch.Tensor:
    """One forward pass through the cache → logits of the last position, (rows, V)."""
    cache_kw, keep_kw = _forward_kwargs(type(model))  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {cache_kw: cache, "use_cache": True}
    if keep_kw is not None:
        kwargs[keep_kw] = 1
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, **kwargs)
    return out.logits[:, -1, :]


class EagerSteps:
    """Decode steps through HF's forward pass; the cache and the 2-D mask grow by one column."""

    compact_share = EAGER_COMPACT_SHARE

    def __init__(self, model: Any, cache: Any, mask: torch.Tensor, width: int) -> None:
        self.model, self.cache, self.mask, self.width = model, cache, mask, width  # (R, W + n)

    def step(self, nxt: torch.Tensor, pos: torch.Tensor, t: int) -> torch.Tensor:
        """Feed token ``t`` of each row (``nxt``, (R,)) at positions ``pos`` (R,) → (R, V)."""
        column = self.width + t
        self.mask[:, column] = 1
        return forward_last(self.model, self.cache, nxt[:, None], self.mask[:, : column + 1],
                            pos[:, None])  # fmt: skip

    def select(self, keep: torch.Tensor) -> None:
        """Keep only rows ``keep`` (R',) of the cache and the mask."""
        self.cache.batch_select_indices(keep)
        self.mask = self.mask[keep]


class GraphedSteps:
    """Decode steps over fixed buffers, captured once as a CUDA graph (``graph=True``) or
    run eagerly over the same buffers (on CPU: what the tests compare with :class:`EagerSteps`).
    """

    compact_share = GRAPHED_COMPACT_SHARE

    def __init__(self, model: Any, cache: Any, mask: torch.Tensor, width: int, graph: bool) -> None:
        device = mask.device
        self.model, self.cache, self.width, self.graph = model, cache, width, graph
        self.slot = torch.zeros(1, dtype=torch.long, device=device)  # (1,) next column
        self.mask = (mask != 0)[:, None, None, :].clone()  # (R, 1, 1, C) True = attend
        self.ids = torch.zeros((mask.shape[0], 1), dtype=torch.long, device=device)  # (R, 1)
        self.pos = torch.zeros_like(self.ids)  # (R, 1)
        self.captured: tuple[Any, torch.Tensor] | None = None  # (graph, its logits (R, V))
        fix_addresses(cache, self.slot, width)

    def step(self, nxt: torch.Tensor, pos: torch.Tensor, t: int) -> torch.Tensor:
        """As :meth:`EagerSteps.step`: the buffers are filled, then the graph replays."""
        column = self.width + t
        self.mask[:, 0, 0, column] = True
        self.ids.copy_(nxt[:, None])
        self.pos.copy_(pos[:, None])
        self.slot.fill_(column)
        if self.captured is not None:
            self.captured[0].replay()
            return self.captured[1]
        if not self.graph:
            return self._forward()
        return self._warm_and_capture()

    def select(self, keep: torch.Tensor) -> None:
        self.cache.batch_select_indices(keep)  # new buffers: the graph must be captured again
        self.mask, self.ids, self.pos = self.mask[keep], self.ids[keep], self.pos[keep]
        self.captured = None

    def _forward(self) -> torch.Tensor:
        return forward_last(self.model, self.cache, self.ids, self.mask, self.pos)

    def _warm_and_capture(self) -> torch.Tensor:
        """This step eagerly on a side stream (the warm-up CUDA graphs need), then capture."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            logits = self._forward()  # (R, V): this step's result
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):  # a private pool each (freed with the graph)
                out = self._forward()
        except Exception as err:  # any capture failure: go on eagerly
            _warn_once(type(self.model).__name__, err)
            self.graph = False
            return logits
        self.captured = (graph, out)
        return logits


def _warn_once(name: str, err: Exception) -> None:
    if name not in _warned:
        _warned.add(name)
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        log.warning("decode steps of %s run without a CUDA graph: capture failed (%s)", name, first)


def step_runner(
    model: Any, cache: Any, mask: torch.Tensor, width: int, graph: bool
) -> EagerSteps | GraphedSteps:
    """:class:`GraphedSteps` when ``graph`` is asked for on CUDA and every cache layer is
    preallocated (fixed addresses need it); else :class:`EagerSteps`."""
    if graph and mask.is_cuda and is_preallocated(cache):
        return GraphedSteps(model, cache, mask, width, graph=True)
    return EagerSteps(model, cache, mask, width)
