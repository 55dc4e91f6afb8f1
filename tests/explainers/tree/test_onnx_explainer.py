"""TreeExplainer on ONNX tree ensembles (converted from scikit-learn with skl2onnx).

Truths: brute-force interventional values over the source scikit-learn model's own predictions
(ONNX stores the same trees with float32 leaf weights, hence the float32-sized tolerance); ONNX
keeps no training covers, so path-dependent values are refused with an error asking for a
background.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor  # noqa: E402
from sklearn.neural_network import MLPRegressor  # noqa: E402

import shapwise  # noqa: E402
from shapwise.explainers.tree import TreeExplainer  # noqa: E402
from shapwise.explainers.tree.parse import is_tree_model  # noqa: E402
from tests.explainers.tree.truth import interventional_game, shapley_values  # noqa: E402


def _data(n_rows=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 4))
    y = X[:, 0] + 2.0 * X[:, 1] * (X[:, 2] > 0) + np.sin(3.0 * X[:, 3])
    return X, y


def _to_onnx(model, X):
    options = {"zipmap": False} if hasattr(model, "classes_") else None
    return skl2onnx.to_onnx(
        model, X[:1].astype(np.float32), target_opset={"": 17, "ai.onnx.ml": 3}, options=options
    )


@pytest.fixture(scope="module")
def converted():
    X, y = _data()
    forest = RandomForestRegressor(n_estimators=5, max_depth=5, random_state=0).fit(X, y)
    boosted = GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0)
    boosted.fit(X, (y > np.median(y)).astype(int))
    return {
        "forest": (_to_onnx(forest, X), forest.predict),
        "boosted": (_to_onnx(boosted, X), boosted.decision_function),
    }


@pytest.mark.parametrize("name", ["forest", "boosted"])
def test_interventional_values_are_brute_force_over_the_source_model(converted, name):
    graph, predict = converted[name]
    X, _ = _data(40, seed=1)
    background, rows = X[:12], X[30:34]
    explainer = shapwise.Explainer(graph, background)
    assert isinstance(explainer, TreeExplainer)
    assert explainer.feature_perturbation == "interventional"
    values = explainer.shap_values(rows)
    for row, x in enumerate(rows):
        game = interventional_game(predict, x, background)
        scale = np.abs(game).max()
        np.testing.assert_allclose(values[row], shapley_values(game)[:, 0], atol=1e-6 * scale)


def test_path_dependent_values_are_refused_without_covers(converted):
    graph, _ = converted["forest"]
    with pytest.raises(ValueError, match="no training covers.*background"):
        TreeExplainer(graph)
    with pytest.raises(ValueError, match="no training covers.*background"):
        TreeExplainer(graph, _data(10)[0], feature_perturbation="tree_path_dependent")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_an_onnx_network_is_not_a_tree_model():
    X, y = _data()
    network = MLPRegressor(hidden_layer_sizes=(4,), max_iter=50, random_state=0).fit(X, y)
    graph = _to_onnx(network, X)
    assert not is_tree_model(graph)
    assert is_tree_model(_to_onnx(RandomForestRegressor(n_estimators=2).fit(X, y), X))
