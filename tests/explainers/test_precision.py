"""A float32 model, its float16 numpy twin and a bfloat16 torch module give the same explanations."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise.explainers import Exact, Permutation
from shapwise.numeric import additivity_tolerance

N_FEATURES = 6


def _weights():
    rng = np.random.default_rng(0)
    return rng.normal(size=(N_FEATURES, 8)), rng.normal(size=(8, 2))


def float32_model(X):
    w1, w2 = _weights()
    return (np.tanh(X.astype(np.float32) @ w1.astype(np.float32)) @ w2.astype(np.float32)).astype(
        np.float32
    )


def float16_model(X):
    w1, w2 = _weights()
    hidden = np.tanh(X.astype(np.float16) @ w1.astype(np.float16))
    return hidden @ w2.astype(np.float16)


def bfloat16_module():
    torch = pytest.importorskip("torch")
    w1, w2 = _weights()
    net = torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, 8, bias=False),
        torch.nn.Tanh(),
        torch.nn.Linear(8, 2, bias=False),
    )
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(w1.T))
        net[2].weight.copy_(torch.tensor(w2.T))
    return net.to(torch.bfloat16)


@pytest.mark.parametrize("explainer_class", [Exact, Permutation])
def test_same_explanations_in_every_precision(explainer_class):
    rng = np.random.default_rng(1)
    background = rng.normal(size=(12, N_FEATURES)).astype(np.float32)
    X = rng.normal(size=(3, N_FEATURES)).astype(np.float16)  # half-precision input data too
    reference = explainer_class(float32_model, background, seed=0)(X, max_evals=40)
    assert reference.values.dtype == np.float64
    for model, dtype in ((float16_model, "float16"), (bfloat16_module(), "bfloat16")):
        explanation = explainer_class(model, background, seed=0)(X, max_evals=40)
        assert explanation.values.dtype in (np.float32, np.float64)
        assert explanation.model_dtype == dtype
        scale = np.abs(explanation.output_values).max()
        tolerance = additivity_tolerance(dtype, scale)
        total = explanation.values.sum(axis=1) + explanation.base_values
        np.testing.assert_allclose(total, explanation.output_values, atol=tolerance)
        # half-precision rounding of the model moves values by a few output ulps at most
        np.testing.assert_allclose(explanation.values, reference.values, atol=20 * tolerance)
