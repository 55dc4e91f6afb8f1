"""TreeExplainer on real models.

Truths: the libraries' own exact TreeSHAP (xgboost ``pred_contribs`` / ``pred_interactions``,
LightGBM ``pred_contrib``); brute-force interventional values over the model's own predictions;
shap 0.51's output layouts and expected values for each model type; additivity.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import shapwise
from shapwise.explainers.tree import TreeExplainer
from tests.explainers.tree.truth import interventional_game, shapley_values


def data(n_rows=400, n_features=5, seed=0, missing=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features))
    y = X[:, 0] + 2 * X[:, 1] * (X[:, 2] > 0) + np.sin(3 * X[:, 3])
    if missing:
        X[rng.random(X.shape) < missing] = np.nan
    return X, y


def classes(y, n_classes):
    return np.digitize(y, np.quantile(y, np.linspace(0, 1, n_classes + 1)[1:-1]))


@pytest.fixture(scope="module")
def models():
    import lightgbm
    import xgboost
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    X, y = data(missing=0.05)
    Xc, yc = data(seed=1)  # scikit-learn's classic trees refuse NaN
    small = dict(n_estimators=8, max_depth=4)
    return {
        "xgb_regressor": xgboost.XGBRegressor(**small).fit(X, y),
        "xgb_binary": xgboost.XGBClassifier(**small).fit(X, classes(y, 2)),
        "xgb_multiclass": xgboost.XGBClassifier(**small).fit(X, classes(y, 3)),
        "lgbm_binary": lightgbm.LGBMClassifier(n_estimators=8, verbose=-1).fit(X, classes(y, 2)),
        "lgbm_multiclass": lightgbm.LGBMClassifier(n_estimators=8, verbose=-1).fit(
            X, classes(y, 3)
        ),
        "rf_regressor": RandomForestRegressor(n_estimators=4, max_depth=5).fit(Xc, yc),
        "rf_binary": RandomForestClassifier(n_estimators=4, max_depth=5).fit(Xc, classes(yc, 2)),
        "rf_multiclass": RandomForestClassifier(n_estimators=4, max_depth=5).fit(
            Xc, classes(yc, 3)
        ),
        "gb_binary": GradientBoostingClassifier(n_estimators=4, max_depth=3).fit(
            Xc, classes(yc, 2)
        ),
    }


def test_xgboost_values_and_interactions_equal_its_own_tree_shap():
    import xgboost

    X, y = data(missing=0.1)
    model = xgboost.XGBRegressor(n_estimators=30, max_depth=6).fit(X, y)
    rows = data(50, seed=3, missing=0.1)[0]
    explainer = TreeExplainer(model)
    booster = model.get_booster()
    contributions = booster.predict(xgboost.DMatrix(rows), pred_contribs=True)
    interactions = booster.predict(xgboost.DMatrix(rows), pred_interactions=True)
    # xgboost sums in float32; these bounds are its rounding, far below any leaf value
    np.testing.assert_allclose(explainer.shap_values(rows), contributions[:, :-1], atol=2e-5)
    np.testing.assert_allclose(explainer.expected_value, contributions[0, -1], atol=2e-5)
    np.testing.assert_allclose(
        explainer.shap_interaction_values(rows), interactions[:, :-1, :-1], atol=2e-5
    )


def test_xgboost_multiclass_equals_its_own_tree_shap():
    import xgboost

    X, y = data(missing=0.1)
    model = xgboost.XGBClassifier(n_estimators=10, max_depth=5).fit(X, classes(y, 3))
    rows = X[:40]
    contributions = model.get_booster().predict(xgboost.DMatrix(rows), pred_contribs=True)
    values = TreeExplainer(model).shap_values(rows)  # (rows, features, classes)
    np.testing.assert_allclose(values, contributions[:, :, :-1].transpose(0, 2, 1), atol=2e-5)


def test_lightgbm_values_equal_its_own_tree_shap():
    import lightgbm

    X, y = data(missing=0.1)
    model = lightgbm.LGBMRegressor(n_estimators=30, num_leaves=31, verbose=-1).fit(X, y)
    rows = data(50, seed=3, missing=0.1)[0]
    explainer = TreeExplainer(model)
    contributions = model.predict(rows, pred_contrib=True)
    np.testing.assert_allclose(explainer.shap_values(rows), contributions[:, :-1], atol=1e-10)
    np.testing.assert_allclose(explainer.expected_value, contributions[0, -1], atol=1e-10)


def test_lightgbm_frames_whose_column_names_hold_spaces():
    """LightGBM stores "sepal length (cm)" as "sepal_length_(cm)"; the frame's columns still
    match (in any order), and the explanation keeps the frame's own names."""
    import lightgbm

    X, y = data()
    names = ["width (cm)", "length (cm)", "a b c", "count"] + [
        f"f{i}" for i in range(4, X.shape[1])
    ]
    frame = pd.DataFrame(X, columns=names)
    model = lightgbm.LGBMRegressor(n_estimators=20, verbose=-1).fit(frame, y)
    assert model.booster_.feature_name()[0] == "width_(cm)"
    rows = frame.iloc[:20]
    contributions = model.predict(rows, pred_contrib=True)[:, :-1]
    explanation = shapwise.Explainer(model)(rows[names[::-1]])
    np.testing.assert_allclose(explanation.values, contributions, atol=1e-10)
    assert explanation.feature_names == names
    np.testing.assert_allclose(TreeExplainer(model).shap_values(rows), contributions, atol=1e-10)
    with pytest.raises(ValueError, match="do not match by name"):
        TreeExplainer(model).shap_values(rows.rename(columns={"a b c": "other"}))


def test_interventional_values_are_brute_force_over_the_model(models):
    model = models["xgb_regressor"]
    X, _ = data(missing=0.05)
    background, rows = X[:30], X[200:204]
    explanation = TreeExplainer(model, background)(rows)
    for row, x in enumerate(rows):
        game = interventional_game(lambda Z: model.predict(Z, output_margin=True), x, background)
        # the model predicts in float32
        np.testing.assert_allclose(explanation.values[row], shapley_values(game)[:, 0], atol=1e-5)
    assert explanation.base_values == pytest.approx(
        model.predict(background, output_margin=True).mean(), abs=1e-5
    )


@pytest.mark.parametrize(
    "name",
    [
        "xgb_regressor",
        "xgb_binary",
        "xgb_multiclass",
        "lgbm_binary",
        "lgbm_multiclass",
        "rf_regressor",
        "rf_binary",
        "rf_multiclass",
        "gb_binary",
    ],
)
@pytest.mark.parametrize("with_background", [False, True])
def test_layouts_are_shaps(models, name, with_background):
    import shap

    model = models[name]
    X = data(seed=1)[0]
    background = X[:20] if with_background else None
    rows = X[30:35]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = shap.TreeExplainer(model, background)
        their_values = theirs.shap_values(rows)
        their_expected = theirs.expected_value
        their_explanation = theirs(rows)
    ours = TreeExplainer(model, background)
    values = ours.shap_values(rows)
    assert values.shape == np.shape(their_values)
    np.testing.assert_allclose(values, their_values, atol=1e-5)
    expected = ours.expected_value
    assert isinstance(expected, list) == isinstance(their_expected, list)
    assert np.shape(expected) == np.shape(their_expected)
    if not (name == "xgb_multiclass" and with_background):  # shap's base is off there, below
        np.testing.assert_allclose(expected, their_expected, atol=1e-5)
    explanation = ours(rows)
    assert explanation.values.shape == their_explanation.values.shape
    assert np.shape(explanation.base_values) == np.shape(their_explanation.base_values)
    assert ours.shap_interaction_values(rows).shape == (
        (5, 5, 5) if values.ndim == 2 else (5, 5, 5, values.shape[2])
    )


def test_multiclass_base_values_add_up_where_shaps_do_not(models):
    """shap's interventional expected_value of an xgboost multiclass model is off by the base
    score of the other classes; ours is the background's mean margin, and adds up."""
    model = models["xgb_multiclass"]
    X = data(seed=1)[0]
    explainer = TreeExplainer(model, X[:20])
    margin = model.predict(X[:20], output_margin=True)
    np.testing.assert_allclose(explainer.expected_value, margin.mean(axis=0), atol=1e-5)
    values = explainer.shap_values(X[30:35])
    np.testing.assert_allclose(
        values.sum(axis=1) + explainer.expected_value,
        model.predict(X[30:35], output_margin=True),
        atol=1e-5,
    )


def test_dataframes_name_features_and_are_matched_by_column(models):
    model = models["xgb_regressor"]
    X = data(seed=1)[0]
    names = ["a", "b", "c", "d", "e"]
    frame = pd.DataFrame(X[:10], columns=names)
    explanation = TreeExplainer(model)(frame)
    assert explanation.feature_names == names
    background = pd.DataFrame(X[:20], columns=names)
    explainer = TreeExplainer(model, background)
    shuffled = frame[["c", "a", "b", "e", "d"]]
    np.testing.assert_allclose(explainer(shuffled).values, explainer(frame).values)
    with pytest.raises(ValueError, match="missing 'e'"):
        explainer(frame[["a", "b", "c", "d"]])


def test_nan_rows_follow_the_default_directions(models):
    import xgboost

    model = models["xgb_regressor"]
    rows = np.full((3, 5), np.nan)
    rows[1, :2] = [0.5, -1.0]
    contributions = model.get_booster().predict(xgboost.DMatrix(rows), pred_contribs=True)
    np.testing.assert_allclose(
        TreeExplainer(model).shap_values(rows), contributions[:, :-1], atol=2e-5
    )


def test_the_factory_picks_tree_with_or_without_a_background(models):
    model = models["lgbm_binary"]
    X = data(seed=1)[0]
    assert isinstance(shapwise.Explainer(model), TreeExplainer)
    with_background = shapwise.Explainer(model, X[:20])
    assert isinstance(with_background, TreeExplainer)
    assert with_background.feature_perturbation == "interventional"
    masker = shapwise.maskers.Independent(X[:20])
    assert shapwise.Explainer(model, masker).feature_perturbation == "interventional"
    assert shapwise.explainers.Tree is TreeExplainer
    assert shapwise.TreeExplainer is TreeExplainer


def test_bad_input_gets_clear_errors(models):
    model = models["xgb_regressor"]
    from sklearn.linear_model import LinearRegression
    from sklearn.neighbors import KNeighborsRegressor

    X, y = data(seed=1)
    with pytest.raises(TypeError, match="not a supported tree model"):
        TreeExplainer(KNeighborsRegressor().fit(X, y))
    with pytest.raises(TypeError, match="not a supported tree model"):
        TreeExplainer(LinearRegression().fit(X, y))
    with pytest.raises(TypeError, match="not a supported tree model"):
        TreeExplainer(lambda rows: rows.sum(axis=1))
    explainer = TreeExplainer(model)
    with pytest.raises(ValueError, match=r"shape \(rows, 5\)"):
        explainer.shap_values(X[:, :4])
    with pytest.raises(ValueError, match="no rows"):
        TreeExplainer(model, np.zeros((0, 5)))
    with pytest.raises(ValueError, match=r"shape \(rows, 5\)"):
        TreeExplainer(model, X[:10, :3])
    with pytest.raises(ValueError, match="feature_perturbation"):
        TreeExplainer(model, feature_perturbation="conditional")
    with pytest.raises(ValueError, match="needs background data"):
        TreeExplainer(model, feature_perturbation="interventional")


def test_the_callers_rows_are_not_changed(models):
    X = data(seed=1, missing=0.1)[0]
    before = X.copy()
    TreeExplainer(models["xgb_regressor"], X[:20])(X[:30])
    np.testing.assert_array_equal(X, before)


def test_plots_draw_the_explanation(models):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    explanation = TreeExplainer(models["xgb_regressor"])(data(seed=1)[0][:40])
    shapwise.plots.beeswarm(explanation, show=False)
    shapwise.plots.bar(explanation, show=False)
    shapwise.plots.waterfall(explanation[0], show=False)
    assert plt.get_fignums()
    plt.close("all")


def test_import_loads_no_tree_library():
    code = (
        "import sys, shapwise, shapwise.explainers.tree\n"
        "from shapwise.explainers.tree import parse_xgboost, parse_lightgbm, parse_sklearn\n"
        "loaded = [m for m in ('xgboost', 'lightgbm', 'catboost', 'torch', 'tensorflow') "
        "if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["xgb_binary", "xgb_multiclass", "lgbm_binary"])
def test_probability_values_are_those_of_the_probability_game(models, name):
    from tests.explainers.tree.truth import probability_game

    model = models[name]
    X = data(seed=1)[0]
    background, rows = X[:12], X[40:43]
    explainer = TreeExplainer(model, background, model_output="probability")
    explanation = explainer(rows)
    margin = explainer.ensemble  # the checked table gives the model's margin
    from shapwise.explainers.tree._table import predict_margin

    n_features = X.shape[1]
    for row, x in enumerate(rows):
        game = probability_game(lambda Z: predict_margin(margin, Z), x, background)
        truth = shapley_values(game).reshape(n_features, -1).squeeze()
        np.testing.assert_allclose(explanation.values[row], truth, atol=1e-12)
    probability = model.predict_proba(rows)
    expected = probability[:, 1] if probability.shape[1] == 2 else probability
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_values, expected, atol=1e-6
    )


def test_log_loss_values_explain_each_rows_label(models):
    model = models["xgb_binary"]
    X, y = data(seed=1)
    labels = classes(y, 2)[40:44]
    explainer = TreeExplainer(model, X[:12], model_output="log_loss")
    explanation = explainer(X[40:44], labels)  # shap's positional labels
    p = model.predict_proba(X[40:44])[:, 1]
    loss = -(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_values, loss, atol=1e-5
    )
    np.testing.assert_allclose(explainer.expected_value(labels), explanation.base_values)
    with pytest.raises(ValueError, match="pass y"):
        explainer(X[40:44])
    with pytest.raises(ValueError, match="background"):
        TreeExplainer(model, model_output="probability")


def test_categorical_splits_with_a_background_are_brute_force():
    """HistGradientBoosting and LightGBM with categorical features: interventional values from the
    definition over each model's own raw predictions."""
    import lightgbm
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(4)
    X = rng.normal(size=(600, 4))
    X[:, 1] = rng.integers(0, 12, size=600)
    y = X[:, 0] + np.isin(X[:, 1], [1, 4, 7, 9]) * 2.0 + X[:, 2] * (X[:, 1] > 5)
    hist = HistGradientBoostingRegressor(max_iter=15, categorical_features=[1]).fit(X, y)
    boosted = lightgbm.LGBMRegressor(n_estimators=15, verbose=-1).fit(X, y, categorical_feature=[1])
    background, rows = X[:15], X[300:303]
    for model, margin in (
        (hist, hist._raw_predict),
        (boosted, lambda Z: boosted.predict(Z, raw_score=True)),
    ):
        assert (TreeExplainer(model).ensemble.decision == 2).any()
        values = TreeExplainer(model, background).shap_values(rows)
        for row, x in enumerate(rows):
            game = interventional_game(margin, x, background)
            np.testing.assert_allclose(values[row], shapley_values(game)[:, 0], atol=1e-9)


def test_interventional_interactions_are_brute_force_not_zeros(models):
    """shap returns zeros here; ours are the interaction index of the interventional game."""
    from tests.explainers.tree.truth import interaction_values

    model = models["lgbm_binary"]
    X = data(seed=1)[0]
    background, rows = X[:10], X[50:52]
    explainer = TreeExplainer(model, background)
    matrices = explainer.shap_interaction_values(rows)
    np.testing.assert_allclose(matrices.sum(axis=2), explainer.shap_values(rows), atol=1e-12)
    for row, x in enumerate(rows):
        game = interventional_game(lambda Z: model.predict(Z, raw_score=True), x, background)
        np.testing.assert_allclose(matrices[row], interaction_values(game)[..., 0], atol=1e-10)
    assert np.abs(matrices - np.einsum("rii->ri", matrices)[:, :, None] * np.eye(5)).max() > 0.01


def test_catboost_interventional_values_are_brute_force_over_the_model():
    import catboost

    X, y = data(400, seed=5)
    model = catboost.CatBoostRegressor(
        iterations=20, depth=4, verbose=0, thread_count=1, allow_writing_files=False
    )
    model.fit(X, y)
    background, rows = X[:10], X[100:102]
    values = TreeExplainer(model, background).shap_values(rows)
    for row, x in enumerate(rows):
        game = interventional_game(model.predict, x, background)
        np.testing.assert_allclose(values[row], shapley_values(game)[:, 0], atol=1e-10)


def test_interactions_of_chosen_features_are_the_full_matrices_parts(models):
    import shapwise.explainers.tree.explainer as tree_explainer

    model = models["xgb_multiclass"]
    rows = data(seed=1)[0][:30]
    explainer = TreeExplainer(model, feature_names=["a", "b", "c", "d", "e"])
    full = explainer.shap_interaction_values(rows)
    chunk = tree_explainer.INTERACTION_CHUNK_BYTES
    tree_explainer.INTERACTION_CHUNK_BYTES = 8 * 25 * 3 * 7  # 7 rows a chunk
    try:
        chosen = explainer.shap_interaction_values(rows, features=[3, "b"])
    finally:
        tree_explainer.INTERACTION_CHUNK_BYTES = chunk
    np.testing.assert_array_equal(chosen, full[:, [3, 1]][:, :, [3, 1]])
    with pytest.raises(ValueError, match="unknown feature 'z'"):
        explainer.shap_interaction_values(rows, features=["z"])


def test_a_forest_classifiers_probability_output_is_its_raw_output():
    """scikit-learn forests average class proportions: model_output='probability' explains the
    same outputs as 'raw' (as shap does), and they add up to predict_proba."""
    from sklearn.ensemble import RandomForestClassifier

    X, y = data()
    forest = RandomForestClassifier(n_estimators=6, max_depth=4, random_state=0)
    forest.fit(X, classes(y, 3))
    background, rows = X[:40], X[200:205]
    probability = TreeExplainer(forest, data=background, model_output="probability")
    raw = TreeExplainer(forest, data=background)
    explanation = probability(rows)
    np.testing.assert_array_equal(explanation.values, raw(rows).values)
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_values,
        forest.predict_proba(rows),
        atol=1e-12,
    )
    assert probability.model_output == "probability"
    with pytest.raises(ValueError, match="logistic or softmax objective"):
        TreeExplainer(forest, data=background, model_output="log_loss")
    # a boosting classifier's raw outputs are log-odds: its probability stays a probability
    from sklearn.ensemble import GradientBoostingClassifier

    boosted = GradientBoostingClassifier(n_estimators=5, max_depth=2).fit(X, classes(y, 2))
    explained = TreeExplainer(boosted, data=background, model_output="probability")(rows)
    np.testing.assert_allclose(
        explained.values.sum(axis=1) + explained.base_values,
        boosted.predict_proba(rows)[:, 1],
        atol=1e-10,
    )


def test_rows_given_as_an_xgboost_dmatrix():
    """What a DMatrix leaves out is missing (NaN), its stored zeros stay zeros; its feature
    names name the explanation's features."""
    import xgboost

    X, y = data(missing=0.1)
    X[:5, 1] = 0.0  # stored zeros
    names = [f"f{i}" for i in range(X.shape[1])]
    model = xgboost.XGBRegressor(n_estimators=10, max_depth=3).fit(
        pd.DataFrame(X, columns=names), y
    )
    rows = X[:30]
    explainer = TreeExplainer(model)
    matrix = xgboost.DMatrix(rows, feature_names=names)
    np.testing.assert_array_equal(explainer.shap_values(matrix), explainer.shap_values(rows))
    contributions = model.get_booster().predict(matrix, pred_contribs=True)[:, :-1]
    np.testing.assert_allclose(explainer.shap_values(matrix), contributions, atol=1e-5)
    assert explainer(matrix).feature_names == names


def test_lightgbm_pandas_category_columns_of_strings():
    """Category columns are read as the codes LightGBM was trained on (the rows' own
    categories may come in another order, or hold one it never saw: missing), as its predict
    reads them."""
    import lightgbm

    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "color": pd.Categorical(rng.choice(["red", "blue", "green"], 300)),
            "x": rng.normal(size=300),
            "size": pd.Categorical(rng.choice(["S", "M", "L", "XL"], 300)),
        }
    )
    y = 2.0 * (frame["color"] == "red") + frame["x"] - (frame["size"] == "XL")
    model = lightgbm.LGBMRegressor(n_estimators=15, min_child_samples=5, verbose=-1)
    model.fit(frame, y + 0.1 * rng.normal(size=300))
    rows = frame.iloc[:6].copy()
    rows["color"] = pd.Categorical(["green", "red", "purple", "blue", "red", "green"])
    contributions = model.predict(rows, pred_contrib=True)[:, :-1]
    np.testing.assert_allclose(TreeExplainer(model).shap_values(rows), contributions, atol=1e-10)
    explanation = TreeExplainer(model, data=frame.iloc[:40])(rows)
    np.testing.assert_allclose(
        explanation.values.sum(axis=1) + explanation.base_values, model.predict(rows), atol=1e-10
    )
    with pytest.raises(ValueError, match="trained on 2 category columns"):
        TreeExplainer(model).shap_values(rows.astype({"size": object}))


def test_tree_limit_explains_an_xgboost_models_first_rounds():
    """shap's tree_limit: the first rounds, as xgboost's own pred_contribs with
    iteration_range; for a multi-class model a round holds a tree per class."""
    import xgboost

    X, y = data()
    rows = X[:10]
    for n_classes in (2, 3):
        model = xgboost.XGBClassifier(n_estimators=12, max_depth=3).fit(X, classes(y, n_classes))
        contributions = model.get_booster().predict(
            xgboost.DMatrix(rows), pred_contribs=True, iteration_range=(0, 4)
        )
        if n_classes > 2:  # (rows, classes, features + 1) -> (rows, features, classes)
            contributions = np.transpose(contributions, (0, 2, 1))
        explainer = TreeExplainer(model)
        values = explainer.shap_values(rows, tree_limit=4)
        np.testing.assert_allclose(values, contributions[:, :-1], atol=1e-5)
        assert not np.allclose(values, explainer.shap_values(rows), atol=1e-3)
        np.testing.assert_allclose(
            explainer.shap_interaction_values(rows[:2], tree_limit=4).sum(axis=2),
            values[:2],
            atol=1e-9,
        )
        # the base value follows the rounds explained, as shap's, until a call without them
        margin = model.predict(rows, output_margin=True, iteration_range=(0, 4))
        additive = values.sum(axis=1) + np.asarray(explainer.expected_value)
        np.testing.assert_allclose(additive, margin.reshape(additive.shape), atol=1e-5)
        full = explainer.shap_values(rows).sum(axis=1) + np.asarray(explainer.expected_value)
        np.testing.assert_allclose(
            full, model.predict(rows, output_margin=True).reshape(full.shape), atol=1e-5
        )
    background = TreeExplainer(model, data=X[:30])
    limited = background.shap_values(rows, tree_limit=4).sum(axis=1) + background.expected_value
    np.testing.assert_allclose(
        limited, model.predict(rows, output_margin=True, iteration_range=(0, 4)), atol=1e-5
    )
    with pytest.raises(ValueError, match="between 1 and 12"):
        explainer.shap_values(rows, tree_limit=13)
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=3, max_depth=3).fit(X, y)
    with pytest.raises(ValueError, match="supported for xgboost"):
        TreeExplainer(forest).shap_values(rows, tree_limit=2)
