"""Every explainer pickles (standard library and cloudpickle) to one that gives the same values."""

from __future__ import annotations

import pickle

import cloudpickle
import numpy as np
import pytest

import shapwise

PICKLERS = {"pickle": pickle, "cloudpickle": cloudpickle}


def _tabular(kind: str, forest, linear_model, X: np.ndarray):
    background = X[:20]
    if kind == "exact":
        return shapwise.explainers.Exact(forest.predict, background)
    if kind == "permutation":
        return shapwise.explainers.Permutation(forest.predict, background, seed=3)
    if kind == "partition":
        return shapwise.explainers.Partition(forest.predict, shapwise.maskers.Partition(background))
    if kind == "kernel":
        return shapwise.KernelExplainer(forest.predict, background, seed=3)
    return shapwise.LinearExplainer(linear_model, background)


def _values(explainer, rows) -> list[np.ndarray]:
    explanation = explainer(rows)
    return [np.asarray(explanation.values), np.asarray(explanation.base_values)]


def _assert_round_trip(explainer, rows, pickler) -> None:
    """Values of a fresh copy, and of a copy made after a first call, equal the original's."""
    fresh = pickler.loads(pickler.dumps(explainer))
    expected = _values(explainer, rows)
    used = pickler.loads(pickler.dumps(explainer))
    for copy in (fresh, used):
        for got, want in zip(_values(copy, rows), expected, strict=True):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("pickler", PICKLERS)
@pytest.mark.parametrize("kind", ["exact", "permutation", "partition", "kernel", "linear"])
def test_tabular_explainers_round_trip(kind, pickler, table, forest, linear_model):
    X, _ = table
    explainer = _tabular(kind, forest, linear_model, X)
    # a budget below 2^5 coalitions: Permutation and Kernel sample (seeded, so repeatable)
    rows = X[20:24]
    if kind in ("permutation", "kernel"):
        copy = PICKLERS[pickler].loads(PICKLERS[pickler].dumps(explainer))
        want = explainer(rows, max_evals=20).values
        np.testing.assert_array_equal(copy(rows, max_evals=20).values, want)
    _assert_round_trip(explainer, rows, PICKLERS[pickler])


@pytest.mark.parametrize("pickler", PICKLERS)
@pytest.mark.parametrize("kind", ["deep", "gradient"])
def test_torch_explainers_round_trip(kind, pickler, torch_net, table):
    torch = pytest.importorskip("torch")
    X = torch.tensor(table[0], dtype=torch.float32)
    if kind == "deep":
        explainer = shapwise.DeepExplainer(torch_net, X[:20])
        _assert_round_trip(explainer, X[20:24], PICKLERS[pickler])
    else:
        explainer = shapwise.GradientExplainer(torch_net, X[:20])
        copy = PICKLERS[pickler].loads(PICKLERS[pickler].dumps(explainer))
        # expected gradients draw at random: the same seed gives the same draws
        want = explainer.shap_values(X[20:24], rseed=5)
        np.testing.assert_array_equal(copy.shap_values(X[20:24], rseed=5), want)


@pytest.fixture(scope="module")
def keras_net():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(16, activation="gelu"), keras.layers.Dense(2)]
    )


@pytest.mark.parametrize("pickler", PICKLERS)
@pytest.mark.parametrize("kind", ["deep", "gradient"])
def test_keras_explainers_round_trip(kind, pickler, keras_net, table):
    X = table[0].astype(np.float32)
    if kind == "deep":
        explainer = shapwise.DeepExplainer(keras_net, X[:20])
        _assert_round_trip(explainer, X[20:24], PICKLERS[pickler])
    else:
        explainer = shapwise.GradientExplainer(keras_net, X[:20])
        copy = PICKLERS[pickler].loads(PICKLERS[pickler].dumps(explainer))
        want = explainer.shap_values(X[20:24], rseed=5)
        np.testing.assert_array_equal(copy.shap_values(X[20:24], rseed=5), want)


def test_keras_gradient_of_an_inner_layer_round_trips(table):
    """The layer travels by name and is found again in the unpickled model."""
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(16, activation="gelu")(inputs)
    last = keras.layers.Dense(2)
    model = keras.Model(inputs, last(hidden))
    X = table[0].astype(np.float32)
    explainer = shapwise.GradientExplainer((model, last), X[:20])
    copy = pickle.loads(pickle.dumps(explainer))
    want = explainer.shap_values(X[20:24], rseed=5)
    np.testing.assert_array_equal(copy.shap_values(X[20:24], rseed=5), want)


@pytest.mark.parametrize("pickler", PICKLERS)
@pytest.mark.parametrize("background", [False, True], ids=["path-dependent", "interventional"])
def test_tree_explainer_round_trips(background, pickler, table, forest):
    X, _ = table
    explainer = shapwise.TreeExplainer(forest, X[:20] if background else None)
    _assert_round_trip(explainer, X[20:30], PICKLERS[pickler])
