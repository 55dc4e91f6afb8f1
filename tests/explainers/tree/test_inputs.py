"""Inputs read as each library reads them: LightGBM's zero band, categories of non-integer values.

Truths: each library's own predictions (``predict(raw_score=True)``, ``output_margin=True``,
``_raw_predict``), its own exact TreeSHAP (LightGBM ``pred_contrib``, xgboost
``pred_contribs``), and brute-force interventional values over the model's own predictions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shapwise.explainers.tree import TreeExplainer
from shapwise.explainers.tree._table import predict_margin
from tests.explainers.tree.truth import interventional_game, shapley_values

# category-column values the libraries read differently: non-integers, negatives, large, NaN
ODD_CATEGORIES = [-1.5, -1.0, -0.99, -0.5, -1e-40, 0.0, 0.5, 0.99, 1.0, 1.5, 2.0, 2.7, 3.999]
ODD_CATEGORIES += [4.0, 5.0, 5.5, 6.0, 1e9, 1e12, np.nan]


def _categorical_data(n_rows=600, seed=0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.integers(0, 6, n_rows), rng.normal(size=(n_rows, 2))]).astype(float)
    y = np.array([3.0, -1.0, 2.0, 0.0, -2.0, 1.0])[X[:, 0].astype(int)] + X[:, 1] * X[:, 2]
    return X, y


def _odd_rows(seed=1):
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(len(ODD_CATEGORIES), 3))
    rows[:, 0] = ODD_CATEGORIES
    return rows


def _zero_band_data(n_rows=800, seed=0):
    """Columns with many exact zeros (LightGBM: missing_type Zero when zero_as_missing)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 3))
    X[rng.random(X.shape) < 0.3] = 0.0
    y = 2.0 * (X[:, 0] == 0) + X[:, 1] + X[:, 2] * (X[:, 0] > 0)
    return X, y


def _zero_band_rows(seed=1):
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(12, 3))
    band = [1e-40, -1e-36, 1e-35, -1e-35, 0.0, 1e-34, -1e-34, 1e-300, np.nan, 3e-36, -0.0, 0.1]
    rows[:, 0] = band
    rows[:, 2] = band[::-1]
    return rows


@pytest.fixture(scope="module")
def zero_band_model():
    import lightgbm

    X, y = _zero_band_data()
    model = lightgbm.LGBMRegressor(
        n_estimators=20, num_leaves=8, zero_as_missing=True, verbose=-1
    ).fit(X, y)
    dump = model.booster_.dump_model()["tree_info"]
    assert any('"missing_type": "Zero"' in str(tree).replace("'", '"') for tree in dump)
    return model


def test_lightgbm_reads_the_zero_band_as_missing_zero(zero_band_model):
    """Inputs with |x| <= 1e-35 go where LightGBM sends 0 (missing_type Zero): margins and
    path-dependent values equal LightGBM's own ``predict(raw_score=True)`` and ``pred_contrib``."""
    rows = _zero_band_rows()
    given = rows.copy()
    explainer = TreeExplainer(zero_band_model)
    explanation = explainer(rows)
    native = zero_band_model.predict(rows, pred_contrib=True)
    np.testing.assert_allclose(explanation.values, native[:, :-1], atol=1e-10)
    np.testing.assert_allclose(
        explanation.values.sum(1) + explanation.base_values,
        zero_band_model.predict(rows, raw_score=True),
        atol=1e-10,
    )
    np.testing.assert_allclose(
        predict_margin(explainer.ensemble, rows)[:, 0],
        zero_band_model.predict(rows, raw_score=True),
        atol=1e-10,
    )
    np.testing.assert_array_equal(rows, given)  # the caller's rows are untouched
    np.testing.assert_array_equal(explanation.data, given)  # and shown as given


def test_lightgbm_zero_band_with_a_background_is_brute_force(zero_band_model):
    rows = _zero_band_rows()[:6]
    background = _zero_band_rows(seed=2)
    given = background.copy()
    values = TreeExplainer(zero_band_model, background).shap_values(rows)
    for row, x in enumerate(rows):
        game = interventional_game(
            lambda Z: zero_band_model.predict(Z, raw_score=True), x, background
        )
        np.testing.assert_allclose(values[row], shapley_values(game)[:, 0], atol=1e-9)
    np.testing.assert_array_equal(background, given)


def _lightgbm_categorical():
    import lightgbm

    X, y = _categorical_data()
    model = lightgbm.LGBMRegressor(
        n_estimators=10, num_leaves=8, min_data_per_group=5, cat_smooth=0, verbose=-1
    ).fit(X, y, categorical_feature=[0])
    return model, lambda Z: model.predict(Z, raw_score=True)


def _xgboost_categorical():
    import xgboost

    X, y = _categorical_data()
    frame = pd.DataFrame({"a": pd.Categorical(X[:, 0].astype(int)), "b": X[:, 1], "c": X[:, 2]})
    model = xgboost.XGBRegressor(
        n_estimators=10, max_depth=3, enable_categorical=True, max_cat_to_onehot=1
    ).fit(frame, y)
    booster = model.get_booster()
    booster.feature_names = None  # explained as arrays of category codes

    def margin(Z):
        matrix = xgboost.DMatrix(Z, feature_types=["c", "q", "q"], enable_categorical=True)
        return booster.predict(matrix, output_margin=True)

    return booster, margin


def _hist_categorical():
    from sklearn.ensemble import HistGradientBoostingRegressor

    X, y = _categorical_data()
    model = HistGradientBoostingRegressor(max_iter=10, categorical_features=[0]).fit(X, y)
    return model, model._raw_predict


MODELS = {
    "lightgbm": _lightgbm_categorical,
    "xgboost": _xgboost_categorical,
    "hist_gradient_boosting": _hist_categorical,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_categories_of_odd_values_are_read_as_the_library_reads_them(name):
    """2.7, -0.5, 1e12, ...: the table's walk, the compiled core's margins and the brute-force
    interventional values all follow the library's own predictions."""
    model, margin = MODELS[name]()
    rows = _odd_rows()
    explainer = TreeExplainer(model, _odd_rows(seed=2)[::2])
    assert (explainer.ensemble.decision == 2).any()
    own = np.asarray(margin(rows), dtype=np.float64).reshape(len(rows))
    tolerance = 1e-5 if name == "xgboost" else 1e-10  # xgboost sums in float32
    np.testing.assert_allclose(predict_margin(explainer.ensemble, rows)[:, 0], own, atol=tolerance)
    explanation = explainer(rows)
    np.testing.assert_allclose(
        explanation.values.sum(1) + explanation.base_values, own, atol=tolerance
    )
    background = explainer.data
    for row in (3, 11, 15, 19):  # -0.5, 2.7, 5.5, NaN
        game = interventional_game(margin, rows[row], background)
        np.testing.assert_allclose(
            explanation.values[row], shapley_values(game)[:, 0], atol=max(tolerance, 1e-9)
        )


def test_lightgbm_categories_of_odd_values_equal_pred_contrib():
    model, _ = _lightgbm_categorical()
    rows = _odd_rows()
    values = TreeExplainer(model).shap_values(rows)
    np.testing.assert_allclose(values, model.predict(rows, pred_contrib=True)[:, :-1], atol=1e-10)


def test_xgboost_categories_of_odd_values_equal_pred_contribs():
    import xgboost

    booster, _ = _xgboost_categorical()
    rows = _odd_rows()
    matrix = xgboost.DMatrix(rows, feature_types=["c", "q", "q"], enable_categorical=True)
    native = booster.predict(matrix, pred_contribs=True)
    np.testing.assert_allclose(TreeExplainer(booster).shap_values(rows), native[:, :-1], atol=2e-5)
