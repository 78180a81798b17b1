"""The divergence math against float64 references written out in the test."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sftlens.analysis.divergence import full_kl, rank_of, topk_kl


def _softmax64(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max())
    return z / z.sum()


def _topk_kl_reference(tuned: np.ndarray, base: np.ndarray, k: int) -> float:
    idx = np.argsort(-tuned, kind="stable")[:k]
    p, q = _softmax64(tuned[idx]), _softmax64(base[idx])
    return float(np.sum(p * (np.log(p) - np.log(q))))


@pytest.mark.parametrize("k", [1, 3, 10])
def test_topk_kl_matches_float64_reference(k: int) -> None:
    rng = np.random.default_rng(k)
    tuned = rng.normal(size=(5, 50)) * 3
    base = rng.normal(size=(5, 50)) * 3
    got = topk_kl(
        torch.tensor(tuned, dtype=torch.float32), torch.tensor(base, dtype=torch.float32), k
    )
    want = [_topk_kl_reference(t, b, k) for t, b in zip(tuned, base, strict=True)]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-6)
    if k == 1:
        assert np.allclose(got.numpy(), 0.0)  # one token: both renormalise to probability 1


def test_topk_kl_uses_tuned_top_ids_not_base_top_ids() -> None:
    tuned = torch.tensor([[5.0, 4.0, 0.0, 0.0]])
    base = torch.tensor([[0.0, 1.0, 9.0, 9.0]])  # base's own top-2 are tokens 2, 3
    want = _topk_kl_reference(tuned[0].double().numpy(), base[0].double().numpy(), 2)
    assert topk_kl(tuned, base, 2).item() == pytest.approx(want, rel=1e-5)
    # p = softmax(5, 4), q = softmax(0, 1): KL = (p0 - q0) * 1 = tanh(1/2)
    assert want == pytest.approx(np.tanh(0.5), rel=1e-9)


def test_full_kl_both_directions_match_reference_and_vanish_on_equal_inputs() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 40)), rng.normal(size=(3, 40))
    ta, tb = torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)
    for p_logits, q_logits, got in ((a, b, full_kl(ta, tb)), (b, a, full_kl(tb, ta))):
        want = []
        for x, y in zip(p_logits, q_logits, strict=True):
            p, q = _softmax64(x), _softmax64(y)
            want.append(np.sum(p * np.log(p / q)))
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4)
    assert torch.equal(full_kl(ta, ta), torch.zeros(3))
    assert torch.equal(topk_kl(ta, ta, 10), torch.zeros(3))


def test_bf16_logits_are_upcast() -> None:
    a = torch.randn(2, 100).bfloat16()
    b = torch.randn(2, 100).bfloat16()
    got = topk_kl(a, b, 10)
    assert got.dtype == torch.float32
    ref = topk_kl(a.double(), b.double(), 10)
    torch.testing.assert_close(got.double(), ref, rtol=1e-5, atol=1e-6)


def test_rank_of_is_one_based() -> None:
    logits = torch.tensor([[0.1, 3.0, 2.0, -1.0], [5.0, 1.0, 1.0, 0.0]])
    assert rank_of(logits, torch.tensor([1, 0])).tolist() == [1, 1]
    assert rank_of(logits, torch.tensor([2, 3])).tolist() == [2, 4]
    assert rank_of(logits, torch.tensor([0, 2])).tolist() == [3, 2]  # ties rank high
