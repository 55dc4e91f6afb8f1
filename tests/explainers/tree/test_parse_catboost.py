"""CatBoost models: the parsed table gives CatBoost's own raw output (``RawFormulaVal``) to 1e-12."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

cb = pytest.importorskip("catboost")

from shapwise.explainers.tree._table import LOGISTIC, SOFTMAX, check_against_model  # noqa: E402
from shapwise.explainers.tree.parse_catboost import model_margin, parse_catboost  # noqa: E402
from tests.explainers.tree.conftest import (  # noqa: E402
    assert_same_margin,
    boundary_rows,
    classes_of,
)

SMALL = dict(
    iterations=10, depth=4, verbose=0, thread_count=1, random_seed=0, allow_writing_files=False
)

CASES = {
    "regression": (cb.CatBoostRegressor, dict(), "regression"),
    "nan_mode Max": (cb.CatBoostRegressor, dict(nan_mode="Max"), "regression"),
    "logloss": (cb.CatBoostClassifier, dict(), "two classes"),
    "multiclass": (cb.CatBoostClassifier, dict(loss_function="MultiClass"), "three classes"),
    "one-vs-all": (
        cb.CatBoostClassifier,
        dict(loss_function="MultiClassOneVsAll"),
        "three classes",
    ),
    "two targets": (cb.CatBoostRegressor, dict(loss_function="MultiRMSE"), "two targets"),
    "depthwise": (cb.CatBoostRegressor, dict(grow_policy="Depthwise"), "regression"),
    "lossguide": (cb.CatBoostRegressor, dict(grow_policy="Lossguide"), "regression"),
    "depthwise multiclass": (
        cb.CatBoostClassifier,
        dict(loss_function="MultiClass", grow_policy="Depthwise"),
        "three classes",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_margin_equals_catboost_raw_formula_value(name, regression_with_missing, rows):
    estimator, settings, kind = CASES[name]
    X, y = regression_with_missing
    target = {
        "regression": y,
        "two classes": classes_of(y, 2),
        "three classes": classes_of(y, 3),
        "two targets": np.column_stack([y, np.sin(y)]),
    }[kind]
    model = estimator(**SMALL, **settings).fit(X, target)
    parsed = parse_catboost(model)
    assert parsed.n_outputs == {"three classes": 3, "two targets": 2}.get(kind, 1)
    assert np.isnan(rows).any()
    assert_same_margin(parsed, rows, model_margin(model, rows))
    on_thresholds = boundary_rows(parsed, np.nan_to_num(rows[0]))
    assert_same_margin(parsed, on_thresholds, model_margin(model, on_thresholds))
    check_against_model(parsed, rows[:10], model_margin(model, rows[:10]))


def test_objectives_and_covers(regression):
    X, y = regression
    binary = parse_catboost(cb.CatBoostClassifier(**SMALL).fit(X, y > 0))
    multi = parse_catboost(
        cb.CatBoostClassifier(loss_function="MultiClass", **SMALL).fit(X, classes_of(y, 3))
    )
    assert binary.objective == LOGISTIC and multi.objective == SOFTMAX
    # every tree's root covers the training rows; internal covers are their children's sums
    np.testing.assert_array_equal(binary.cover[binary.tree_start[:-1]], len(X))
    internal = binary.left >= 0
    np.testing.assert_array_equal(
        binary.cover[internal],
        binary.cover[binary.left[internal]] + binary.cover[binary.right[internal]],
    )


def test_model_margin_is_the_public_raw_output(regression, rows):
    X, y = regression
    model = cb.CatBoostClassifier(**SMALL).fit(X, y > 0)
    finite = np.nan_to_num(rows)
    np.testing.assert_array_equal(
        model_margin(model, finite), model.predict(finite, prediction_type="RawFormulaVal")
    )


def test_scale_and_bias_are_applied(regression, rows):
    X, y = regression
    model = cb.CatBoostRegressor(**SMALL).fit(X, y)
    model.set_scale_and_bias(2.5, -1.25)
    finite = np.nan_to_num(rows)
    assert_same_margin(parse_catboost(model), finite, model_margin(model, finite))


def test_categorical_features_are_refused_by_name():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "c": rng.choice(["x", "y", "z"], 200)})
    y = frame["a"] + (frame["c"] == "x")
    model = cb.CatBoostRegressor(**SMALL).fit(frame, y, cat_features=["c"])
    with pytest.raises(TypeError, match="categorical features.*Encode them as numbers"):
        parse_catboost(model)


SHAP_CASES = {
    "regression": (cb.CatBoostRegressor, dict(), "regression"),
    "nan_mode Max": (cb.CatBoostRegressor, dict(nan_mode="Max"), "regression"),
    "logloss": (cb.CatBoostClassifier, dict(), "two classes"),
    "multiclass": (cb.CatBoostClassifier, dict(loss_function="MultiClass"), "three classes"),
    "depth 6, empty leaves": (cb.CatBoostRegressor, dict(depth=6), "regression"),
}


@pytest.mark.parametrize("name", list(SHAP_CASES))
def test_path_dependent_values_equal_catboost_shap_values(name, regression_with_missing, rows):
    """Oblivious trees expanded with the last split at the root give CatBoost's own TreeSHAP
    (``ShapValues``, the "Regular" calculation) to float64 rounding, base value included."""
    from shapwise.explainers.tree import TreeExplainer

    estimator, settings, kind = SHAP_CASES[name]
    X, y = regression_with_missing
    if name.startswith("depth 6"):
        X, y = X[:80], y[:80]  # few rows for 64 leaves: many leaves of weight 0
    target = {"regression": y, "two classes": classes_of(y, 2), "three classes": classes_of(y, 3)}
    settings = {**SMALL, **settings}
    model = estimator(**settings).fit(X, target[kind])
    explainer = TreeExplainer(model)
    if name.startswith("depth 6"):
        assert (explainer.ensemble.cover == 0).sum() > 100
    native = model.get_feature_importance(cb.Pool(rows), type="ShapValues")
    values = explainer.shap_values(rows)
    if native.ndim == 3:  # (rows, classes, features + 1)
        native = native.transpose(0, 2, 1)
    np.testing.assert_allclose(values, native[:, :-1], atol=1e-10)
    np.testing.assert_allclose(explainer.expected_value, native[0, -1], atol=1e-10)


def test_non_symmetric_trees_are_brute_force_and_add_up(regression):
    """Depthwise trees with empty nodes: the brute-force path-dependent game of the table, and
    values adding up to CatBoost's raw output (CatBoost's own ShapValues do not add up here)."""
    from shapwise.explainers.tree import TreeExplainer
    from tests.explainers.tree.truth import path_dependent_game, shapley_values

    X, y = regression
    settings = {**SMALL, "depth": 6, "grow_policy": "Depthwise"}
    model = cb.CatBoostRegressor(**settings).fit(X[:60], y[:60])
    explainer = TreeExplainer(model)
    assert (explainer.ensemble.cover == 0).any()
    rows = X[100:104]
    values = explainer.shap_values(rows)
    for row, x in enumerate(rows):
        game = path_dependent_game(explainer.ensemble, x)
        np.testing.assert_allclose(values[row], shapley_values(game)[:, 0], atol=1e-12)
    np.testing.assert_allclose(
        values.sum(1) + explainer.expected_value, model_margin(model, rows), atol=1e-10
    )
