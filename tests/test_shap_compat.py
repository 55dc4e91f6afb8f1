"""Code written for shap 0.51 keeps working with ``import shapwise as shap``.

Each test is a snippet in the style of shap's documentation, checked against shap's own output
shapes and, where both are exact, its values.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

import shapwise as shap


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X.iloc[:60], (y.iloc[:60] > 140).astype(int)


def test_tabular_quickstart(diabetes):
    X, y = diabetes
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, y)
    explainer = shap.Explainer(model.predict_proba, X)
    shap_values = explainer(X.iloc[:5])
    assert shap_values.shape == (5, 10, 2)
    assert shap_values[:, "bmi", 1].values.shape == (5,)
    positive = shap_values[..., 1]
    np.testing.assert_allclose(
        positive.values.sum(1) + positive.base_values, model.predict_proba(X.iloc[:5])[:, 1]
    )
    assert np.shape(explainer.expected_value) == (2,)
    assert shap.Explanation.abs.mean(0).apply(positive).shape == (10,)


def test_legacy_kernel_and_linear(diabetes):
    X, y = diabetes
    model = LogisticRegression(max_iter=1000).fit(X, y)
    kernel = shap.KernelExplainer(model.predict_proba, shap.kmeans(X, 5))
    values = kernel.shap_values(X.iloc[:2], nsamples=2**10 + 100)
    assert values.shape == (2, 10, 2)
    linear = shap.LinearExplainer(model, X)
    margin = linear.shap_values(X.iloc[:2])
    assert margin.shape == (2, 10)
    np.testing.assert_allclose(
        margin.sum(1) + linear.expected_value, model.decision_function(X.iloc[:2]), atol=1e-8
    )


def test_matches_shap_exact_values(diabetes):
    peer = pytest.importorskip("shap")
    X, y = diabetes
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, y)
    f = lambda data: model.predict_proba(data)[:, 1]  # noqa: E731
    background = X.iloc[:20]
    ours = shap.explainers.Exact(f, shap.maskers.Independent(background))(X.iloc[:3])
    theirs = peer.explainers.Exact(f, peer.maskers.Independent(background))(X.iloc[:3])
    np.testing.assert_allclose(theirs.values.sum(1) + theirs.base_values, f(X.iloc[:3]), atol=1e-10)
    np.testing.assert_allclose(ours.values, theirs.values, atol=1e-10)
    np.testing.assert_allclose(ours.base_values, theirs.base_values, atol=1e-10)


def test_deep_and_gradient_on_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 3))
    background, x = torch.randn(10, 4), torch.randn(2, 4)
    deep = shap.DeepExplainer(model, background)
    values = deep.shap_values(x)
    assert values.shape == (2, 4, 3) and np.shape(deep.expected_value) == (3,)
    with torch.no_grad():
        expected = (model(x) - model(background).mean(0)).numpy()
    np.testing.assert_allclose(values.sum(1), expected, atol=1e-5)
    ranked, indexes = shap.GradientExplainer(model, background).shap_values(x, ranked_outputs=2)
    assert ranked.shape == (2, 4, 2) and indexes.shape == (2, 2)


def test_image_partition_with_top_outputs():
    rng = np.random.default_rng(0)
    images = rng.random((2, 6, 6, 3)).astype(np.float32)
    weights = rng.normal(size=(6 * 6 * 3, 4))

    def f(x):
        return np.tanh(x.reshape(len(x), -1) @ weights)

    masker = shap.maskers.Image("blur(3,3)", images[0].shape)
    explainer = shap.Explainer(f, masker, output_names=["a", "b", "c", "d"])
    shap_values = explainer(images, max_evals=100, outputs=shap.Explanation.argsort.flip[:2])
    assert shap_values.values.shape == (2, 6, 6, 3, 2)
    top = np.argsort(-f(images), axis=1)[:, :2]
    totals = shap_values.values.reshape(2, -1, 2).sum(1) + shap_values.base_values
    np.testing.assert_allclose(totals, np.take_along_axis(f(images), top, axis=1), atol=1e-6)


def test_sampled_background_rows_are_shaps():
    """shap.sample and a masker's max_samples draw the rows shap's draw (kept in their original
    order), so a program's background, and with it every value, is the same."""
    real = pytest.importorskip("shap")
    import pandas as pd

    X = pd.DataFrame(np.random.default_rng(0).normal(size=(300, 4)), columns=list("abcd"))
    assert list(shap.sample(X, 12).index) == sorted(real.sample(X, 12).index)
    ours = shap.utils.sample(X.values, 9, random_state=3)
    assert sorted(map(tuple, ours)) == sorted(map(tuple, real.utils.sample(X.values, 9, 3)))
    masked = shap.maskers.Independent(X, max_samples=20).data
    shaps = real.maskers.Independent(X, max_samples=20).data
    assert sorted(map(tuple, masked)) == sorted(map(tuple, shaps))
    assert shap.sample(X, 500) is X  # no more rows than asked: all of them, as given
