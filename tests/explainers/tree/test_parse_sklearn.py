"""scikit-learn tree models: the parsed table predicts what the model predicts, row for row."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import ensemble, tree

from shapwise.explainers.tree._table import check_against_model
from shapwise.explainers.tree.parse_sklearn import model_margin, parse_sklearn
from tests.explainers.tree.conftest import assert_same_margin, boundary_rows, classes_of

# (model, target): every model type the parser reads; all of these accept NaN in fit and predict
WITH_MISSING = [
    (tree.DecisionTreeRegressor(max_depth=6, random_state=0), "regression"),
    (tree.DecisionTreeClassifier(max_depth=5, random_state=0), "three classes"),
    (ensemble.RandomForestRegressor(n_estimators=15, max_depth=6, random_state=0), "regression"),
    (ensemble.RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0), "two classes"),
    (ensemble.RandomForestClassifier(n_estimators=10, random_state=0), "three classes"),
    (ensemble.ExtraTreesRegressor(n_estimators=10, max_depth=6, random_state=0), "regression"),
    (ensemble.ExtraTreesClassifier(n_estimators=10, max_depth=6, random_state=0), "three classes"),
    (ensemble.HistGradientBoostingRegressor(max_iter=20, random_state=0), "regression"),
    (ensemble.HistGradientBoostingClassifier(max_iter=15, random_state=0), "two classes"),
    (ensemble.HistGradientBoostingClassifier(max_iter=10, random_state=0), "three classes"),
]
# these refuse NaN
WITHOUT_MISSING = [
    (ensemble.GradientBoostingRegressor(n_estimators=20, random_state=0), "regression"),
    (ensemble.GradientBoostingClassifier(n_estimators=15, random_state=0), "two classes"),
    (ensemble.GradientBoostingClassifier(n_estimators=10, random_state=0), "three classes"),
    (ensemble.GradientBoostingClassifier(n_estimators=5, init="zero"), "three classes"),
    (ensemble.IsolationForest(n_estimators=20, random_state=0), None),
    (ensemble.IsolationForest(n_estimators=20, max_features=3, random_state=0), None),
]


def _target(y: np.ndarray, kind: str | None):
    return {
        "regression": y,
        "two classes": classes_of(y, 2),
        "three classes": classes_of(y, 3),
    }.get(kind)


def _name(case) -> str:
    return type(case[0]).__name__ + ("" if case[1] is None else f"-{case[1]}")


@pytest.mark.parametrize("case", WITH_MISSING, ids=_name)
def test_margin_with_missing_values(case, regression_with_missing, rows):
    model, kind = case
    X, y = regression_with_missing
    model.fit(X, _target(y, kind))
    parsed = parse_sklearn(model)
    assert parsed.library == "sklearn" and parsed.model_type == type(model).__name__
    assert np.isnan(rows).any() and (rows == 0).any()
    assert_same_margin(parsed, rows, model_margin(model, rows))
    on_thresholds = boundary_rows(parsed, rows[0])
    assert_same_margin(parsed, on_thresholds, model_margin(model, on_thresholds))


@pytest.mark.parametrize("case", WITHOUT_MISSING, ids=_name)
def test_margin_without_missing_values(case, regression, rows):
    model, kind = case
    X, y = regression
    model.fit(X, _target(y, kind))
    parsed = parse_sklearn(model)
    finite = np.nan_to_num(rows)
    assert_same_margin(parsed, finite, model_margin(model, finite))
    on_thresholds = boundary_rows(parsed, finite[0])
    assert_same_margin(parsed, on_thresholds, model_margin(model, on_thresholds))
    check_against_model(parsed, finite[:10], model_margin(model, finite[:10]))


def test_model_margins_are_the_public_outputs(regression, rows):
    """model_margin is what users see: predict_proba, decision_function, shap's isolation score."""
    X, y = regression
    finite = np.nan_to_num(rows)
    forest = ensemble.RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y > 0)
    np.testing.assert_array_equal(model_margin(forest, finite), forest.predict_proba(finite))
    boosting = ensemble.GradientBoostingClassifier(n_estimators=5).fit(X, y > 0)
    np.testing.assert_array_equal(
        model_margin(boosting, finite), boosting.decision_function(finite)
    )
    isolation = ensemble.IsolationForest(n_estimators=10, random_state=0).fit(X)
    path_length = predict_margin_of(isolation, finite)
    c = _average_path_length(isolation.max_samples_)
    np.testing.assert_allclose(-(2.0 ** (-path_length / c)), isolation.score_samples(finite))


def predict_margin_of(model, X):
    from shapwise.explainers.tree._table import predict_margin

    return predict_margin(parse_sklearn(model), X)[:, 0]


def _average_path_length(n: int) -> float:
    # Liu, Ting and Zhou (2008): c(n) = 2 H(n - 1) - 2 (n - 1) / n, with H(i) ~ ln(i) + Euler's gamma
    return 2.0 * (np.log(n - 1.0) + 0.5772156649015329) - 2.0 * (n - 1.0) / n


def test_deep_tree_and_tree_with_more_than_40000_nodes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30_000, 4))
    y = rng.normal(size=30_000)  # noise: the trees split as far as they may
    check = np.concatenate([X[:500], rng.normal(size=(300, 4))])
    deep = tree.DecisionTreeRegressor(max_depth=30, random_state=0).fit(X, y)
    assert deep.get_depth() == 30
    assert_same_margin(parse_sklearn(deep), check, deep.predict(check))
    large = tree.DecisionTreeRegressor(random_state=0).fit(X, y)
    parsed = parse_sklearn(large)
    assert parsed.n_nodes > 40_000 and parsed.left.dtype == np.int64
    assert_same_margin(parsed, check, large.predict(check))


def test_hist_gradient_boosting_categorical_splits(rows):
    rng = np.random.default_rng(0)
    n = 600
    category = (3 * rng.integers(0, 40, n) + 2).astype(float)  # codes are not the values
    category[rng.random(n) < 0.1] = np.nan
    X = np.column_stack([rng.normal(size=n), category, rng.normal(size=n)])
    y = X[:, 0] + np.isin(category, [5, 17, 20, 32, 92]) * 2.0 - 3.0 * np.isnan(category)
    for missing_left_data in (True, False):
        target = y if missing_left_data else y + 6.0 * np.isnan(category)
        model = ensemble.HistGradientBoostingRegressor(
            max_iter=15, categorical_features=[1], random_state=0
        ).fit(X, target)
        parsed = parse_sklearn(model)
        assert (parsed.decision == 2).any()
        # seen, unseen and negative categories, and NaN
        check = np.column_stack(
            [rng.normal(size=400), rng.integers(-3, 200, 400).astype(float), rng.normal(size=400)]
        )
        check[::9, 1] = np.nan
        assert_same_margin(parsed, check, model_margin(model, check))


def test_leaf_values_and_covers_are_read_from_the_model(regression):
    X, y = regression
    model = ensemble.RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0)
    model.fit(X, classes_of(y, 3))
    parsed = parse_sklearn(model)
    first = model.estimators_[0].tree_
    n = first.node_count
    np.testing.assert_array_equal(parsed.cover[:n], first.weighted_n_node_samples)
    leaves = first.children_left == -1
    proportions = first.value[leaves, 0] / first.value[leaves, 0].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(parsed.value[:n][leaves] * 4, proportions, rtol=1e-15)
    internal = parsed.left >= 0
    np.testing.assert_allclose(
        parsed.cover[internal],
        parsed.cover[parsed.left[internal]] + parsed.cover[parsed.right[internal]],
    )


def test_unfitted_and_unsupported_models_are_refused():
    with pytest.raises(ValueError, match="not fitted"):
        parse_sklearn(ensemble.RandomForestRegressor())
    from sklearn.linear_model import LinearRegression

    linear = LinearRegression().fit(np.zeros((3, 1)), np.arange(3.0))
    with pytest.raises(TypeError, match="LinearRegression is not a supported tree model"):
        parse_sklearn(linear)


def test_forest_with_several_targets(regression, rows):
    X, y = regression
    targets = np.column_stack([y, np.sin(y), -2.0 * y])
    model = ensemble.RandomForestRegressor(n_estimators=5, max_depth=5, random_state=0)
    model.fit(X, targets)
    parsed = parse_sklearn(model)
    assert parsed.n_outputs == 3
    finite = np.nan_to_num(rows)
    assert_same_margin(parsed, finite, model.predict(finite))


def test_models_that_cannot_be_read_exactly_are_refused(regression):
    X, y = regression
    from sklearn.linear_model import LinearRegression

    boosting = ensemble.GradientBoostingRegressor(n_estimators=3, init=LinearRegression()).fit(X, y)
    with pytest.raises(TypeError, match="init=LinearRegression"):
        parse_sklearn(boosting)
    import pandas as pd

    frame = pd.DataFrame({"a": X[:, 0], "c": np.where(X[:, 1] > 0, "up", "down")})
    hist = ensemble.HistGradientBoostingRegressor(max_iter=3, categorical_features="from_dtype")
    hist.fit(frame.astype({"c": "category"}), y)
    with pytest.raises(TypeError, match="not non-negative integers.*integer codes"):
        parse_sklearn(hist)
