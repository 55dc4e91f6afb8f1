"""shapwise.Explainer picks the algorithm shap would, and bad input gets a clear message."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import shapwise
from shapwise import maskers
from shapwise.explainers.exact import ExactExplainer
from shapwise.explainers.permutation import PermutationExplainer
from tests.explainers.models import interaction_model


def _data(n_features, rows=10):
    return np.random.default_rng(0).normal(size=(rows, n_features))


def test_exact_up_to_ten_features_then_permutation():
    assert isinstance(shapwise.Explainer(interaction_model(10), _data(10)), ExactExplainer)
    assert isinstance(shapwise.Explainer(interaction_model(11), _data(11)), PermutationExplainer)
    chosen = shapwise.Explainer(interaction_model(3), _data(3), algorithm="permutation")
    assert isinstance(chosen, PermutationExplainer)


def test_dataframe_names_and_legacy_api():
    frame = pd.DataFrame(_data(4), columns=["age", "sex", "bmi", "bp"])
    model = interaction_model(4, 2)
    explainer = shapwise.Explainer(model, frame)
    explanation = explainer(frame.iloc[:3])
    assert explanation.feature_names == ["age", "sex", "bmi", "bp"]
    legacy = explainer.shap_values(frame.iloc[:3])
    assert legacy.shape == (3, 4, 2)
    np.testing.assert_allclose(legacy, explanation.values)
    assert np.shape(explainer.expected_value) == (2,)
    np.testing.assert_allclose(explainer.expected_value, model(frame.to_numpy()).mean(0))
    single = shapwise.Explainer(interaction_model(4), frame)
    assert isinstance(single.expected_value, float)
    np.testing.assert_allclose(explanation[:, "bmi"].values, explanation.values[:, 2])


def test_callable_masker_and_outputs_selection():
    background = _data(3)

    def masker(mask, x):
        return np.where(mask, x, background)

    explainer = shapwise.Explainer(interaction_model(3, 4), masker)
    explanation = explainer(background[:2], outputs=[1, 3])
    reference = shapwise.Explainer(interaction_model(3, 4), maskers.Independent(background))(
        background[:2]
    )
    np.testing.assert_allclose(explanation.values, reference.values[..., [1, 3]], atol=1e-12)


@pytest.mark.parametrize(
    ("make_call", "message"),
    [
        (lambda: shapwise.Explainer(np.sum, None), "a masker or background data is needed"),
        (lambda: shapwise.Explainer(np.sum, np.zeros((0, 3))), "the background data is empty"),
        (
            lambda: shapwise.Explainer(interaction_model(3), _data(3))(_data(4)),
            r"has shape \(4,\) but the background rows have shape \(3,\)",
        ),
        (
            lambda: shapwise.Explainer(interaction_model(3), _data(3))(
                np.array([[1.0, np.nan, 0.0]])
            ),
            "the rows to explain contains 1 NaN",
        ),
        (
            lambda: shapwise.Explainer(interaction_model(3), np.array([[np.inf, 0.0, 0.0]])),
            "the background data contains 1 NaN or infinite",
        ),
        (
            lambda: shapwise.Explainer(lambda X: X[:2, 0], _data(3))(_data(3)[:1]),
            "returned 2 rows .* it must return one output row per input row",
        ),
        (
            lambda: shapwise.Explainer(np.sum, _data(3), algorithm="magic"),
            "unknown algorithm 'magic'",
        ),
        (
            lambda: shapwise.Explainer(interaction_model(3, 2), _data(3))(_data(3), outputs=[5]),
            "outputs must be between 0 and 1",
        ),
    ],
)
def test_bad_input_messages(make_call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make_call()


def test_import_is_light_and_fast():
    code = (
        "import sys, time; t = time.perf_counter(); import shapwise; t = time.perf_counter() - t;"
        "heavy = [m for m in ('torch', 'tensorflow', 'keras', 'matplotlib', 'sklearn', 'cv2') if m in sys.modules];"
        "print(heavy, t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy, seconds = out.stdout.rsplit(" ", 1)
    assert heavy == "[]"
    assert float(seconds) < 1.0


def test_sklearn_linear_models_get_the_closed_form_with_names():
    from sklearn.linear_model import LinearRegression

    from shapwise.explainers.linear import LinearExplainer

    X = _data(3, rows=30)
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0
    explainer = shapwise.Explainer(LinearRegression().fit(X, y), X, feature_names=["a", "b", "c"])
    assert isinstance(explainer, LinearExplainer)
    explanation = explainer(X[:2])
    assert explanation.feature_names == ["a", "b", "c"]
    np.testing.assert_allclose(
        explanation.values, (X[:2] - X.mean(0)) * [1.0, -2.0, 0.5], atol=1e-10
    )


def test_partition_explainer_clusters_plain_background_data():
    explainer = shapwise.explainers.Partition(interaction_model(4), _data(4, rows=30))
    assert explainer.masker.clustering.shape == (3, 4)
    explanation = explainer(_data(4)[:2])
    total = explanation.values.sum(1) + explanation.base_values
    np.testing.assert_allclose(total, interaction_model(4)(_data(4)[:2]), atol=1e-10)


def test_outputs_by_rank_with_shaps_op_chain():
    model = interaction_model(3, 4)
    background = _data(3)
    X = _data(3)[:3]
    explainer = shapwise.Explainer(model, background)
    ranked = explainer(X, outputs=shapwise.Explanation.argsort.flip[:2])
    top = np.argsort(-model(X), axis=1)[:, :2]
    full = explainer(X)
    expected = np.take_along_axis(full.values, top[:, None, :], axis=2)
    np.testing.assert_allclose(ranked.values, expected, atol=1e-12)
    assert repr(shapwise.Explanation.abs.mean(0)) == "Explanation.abs.mean(...)"
    order = shapwise.Explanation.abs.mean(0).argsort.apply(full[..., 0])
    np.testing.assert_array_equal(order.values, np.argsort(np.abs(full.values[..., 0]).mean(0)))


def test_call_options_do_not_stick_and_deep_rejects_a_link():
    explainer = shapwise.Explainer(interaction_model(3), _data(3), batch_size=64)
    calls = []
    inner = explainer.model._predict
    explainer.model._predict = lambda X: (calls.append(len(X)), inner(X))[1]
    explainer(_data(3)[:1], batch_size=5)
    assert max(calls) == 5 and explainer.model.batch_size == 64
    with pytest.raises(ValueError, match="the deep explainer does not take link"):
        shapwise.Explainer(np.sum, _data(3), algorithm="deep", link="logit")


def test_every_public_name_resolves():
    import shapwise.explainers
    import shapwise.maskers

    for module in (shapwise, shapwise.explainers, shapwise.maskers):
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"


def test_explainer_of_a_tree_model_takes_output_names_and_silent():
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_iris(return_X_y=True)
    model = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    explainer = shapwise.Explainer(
        model, X[::10], output_names=["setosa", "versicolor", "virginica"]
    )
    explanation = explainer(X[:4], silent=True)
    assert explanation.algorithm == "tree"
    assert explanation.output_names == ["setosa", "versicolor", "virginica"]
    totals = explanation.values.sum(axis=1) + explanation.base_values
    np.testing.assert_allclose(totals, model.predict_proba(X[:4]), atol=1e-12)
