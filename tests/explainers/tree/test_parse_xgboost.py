"""xgboost models: the parsed table gives xgboost's own margin (``output_margin=True``).

xgboost adds up its trees in float32, so the bound is the float32 rounding bound of that sum
(``margin_tolerance``), orders of magnitude below any leaf value: a wrong branch still fails.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from shapwise.explainers.tree._table import LOGISTIC, SOFTMAX, check_against_model
from shapwise.explainers.tree.parse_xgboost import model_margin, parse_xgboost, parse_xgboost_json
from tests.explainers.tree.conftest import assert_same_margin, boundary_rows, classes_of

CASES = {
    "squarederror": (xgb.XGBRegressor(n_estimators=20, max_depth=4), "regression"),
    "binary logistic": (xgb.XGBClassifier(n_estimators=20, max_depth=4), "two classes"),
    "multi softprob": (xgb.XGBClassifier(n_estimators=8, max_depth=3), "three classes"),
    "multi softmax": (
        xgb.XGBClassifier(n_estimators=8, max_depth=3, objective="multi:softmax"),
        "three classes",
    ),
    "poisson": (xgb.XGBRegressor(n_estimators=10, objective="count:poisson"), "positive"),
    "gamma": (xgb.XGBRegressor(n_estimators=10, objective="reg:gamma"), "positive"),
    "tweedie": (xgb.XGBRegressor(n_estimators=10, objective="reg:tweedie"), "positive"),
    "absolute error": (
        xgb.XGBRegressor(n_estimators=10, objective="reg:absoluteerror"),
        "regression",
    ),
    "logitraw": (xgb.XGBClassifier(n_estimators=10, objective="binary:logitraw"), "two classes"),
    "dart": (xgb.XGBRegressor(n_estimators=10, booster="dart", rate_drop=0.3), "regression"),
    "random forest": (xgb.XGBRFRegressor(n_estimators=6, max_depth=4), "regression"),
    "parallel trees multiclass": (
        xgb.XGBClassifier(n_estimators=4, num_parallel_tree=3, max_depth=3),
        "three classes",
    ),
    "two targets": (xgb.XGBRegressor(n_estimators=5, max_depth=3), "two targets"),
}


def _target(y: np.ndarray, kind: str) -> np.ndarray:
    return {
        "regression": y,
        "positive": np.exp(y / 3.0),
        "two classes": classes_of(y, 2),
        "three classes": classes_of(y, 3),
        "two targets": np.column_stack([y, np.sin(y)]),
    }[kind]


@pytest.mark.parametrize("name", list(CASES))
def test_margin_equals_xgboost_output_margin(name, regression_with_missing, rows):
    model, kind = CASES[name]
    X, y = regression_with_missing
    model.fit(X, _target(y, kind))
    parsed = parse_xgboost(model)
    expected_outputs = {"three classes": 3, "two targets": 2}.get(kind, 1)
    assert parsed.n_outputs == expected_outputs and parsed.library == "xgboost"
    assert_same_margin(parsed, rows, model_margin(model, rows), dtype=np.float32)
    on_thresholds = boundary_rows(parsed, rows[0])
    assert_same_margin(parsed, on_thresholds, model_margin(model, on_thresholds), dtype=np.float32)
    check_against_model(parsed, rows[:10], model_margin(model, rows[:10]))


def test_model_margin_is_the_public_output_margin(regression_with_missing, rows):
    X, y = regression_with_missing
    model = xgb.XGBClassifier(n_estimators=5).fit(X, classes_of(y, 3))
    np.testing.assert_array_equal(
        model_margin(model, rows), model.predict(rows, output_margin=True)
    )


def test_objectives_name_their_probability_link(regression):
    X, y = regression
    binary = parse_xgboost(xgb.XGBClassifier(n_estimators=2).fit(X, y > 0))
    multi = parse_xgboost(xgb.XGBClassifier(n_estimators=2).fit(X, classes_of(y, 3)))
    assert binary.objective == LOGISTIC and multi.objective == SOFTMAX


def test_base_score_strings_scalar_and_vector(regression, rows):
    """base_score as 2.x writes it ("5E-1") and as 3.x does ("[5E-1]", one value per class)."""
    X, y = regression
    finite = np.nan_to_num(rows)
    for model, texts in (
        (xgb.XGBClassifier(n_estimators=3).fit(X, y > 0), ["3E-1", "[3E-1]"]),
        (xgb.XGBClassifier(n_estimators=3).fit(X, classes_of(y, 3)), ["[1.2E0,3E-1,-2E-1]"]),
        (xgb.XGBRegressor(n_estimators=3).fit(X, y), ["2.5E0", "[-1.25E1]"]),
    ):
        document = json.loads(bytes(model.get_booster().save_raw("json")))
        for text in texts:
            document["learner"]["learner_model_param"]["base_score"] = text
            booster = xgb.Booster(model_file=bytearray(json.dumps(document).encode()))
            margin = booster.predict(xgb.DMatrix(finite), output_margin=True)
            assert_same_margin(parse_xgboost_json(document), finite, margin, dtype=np.float32)


def test_early_stopping_keeps_the_trees_predict_uses(regression, rows):
    X, y = regression
    model = xgb.XGBRegressor(n_estimators=300, max_depth=6, early_stopping_rounds=3)
    model.fit(X[:300], y[:300], eval_set=[(X[300:], y[300:])], verbose=False)
    assert model.best_iteration + 1 < model.get_booster().num_boosted_rounds()
    parsed = parse_xgboost(model)
    assert parsed.n_trees == model.best_iteration + 1
    assert_same_margin(parsed, rows, model.predict(rows, output_margin=True), dtype=np.float32)
    booster = model.get_booster()  # a raw booster predicts with all its trees
    every_tree = booster.predict(xgb.DMatrix(rows), output_margin=True)
    assert_same_margin(parse_xgboost(booster), rows, every_tree, dtype=np.float32)


@pytest.mark.parametrize("max_cat_to_onehot", [1, 200])
def test_categorical_splits_with_large_bitsets(max_cat_to_onehot):
    rng = np.random.default_rng(0)
    n = 600
    code = rng.integers(0, 150, n)
    code[rng.random(n) < 0.1] = -1  # missing
    frame = pd.DataFrame(
        {"a": rng.normal(size=n), "c": pd.Categorical.from_codes(code, categories=np.arange(150))}
    )
    y = frame["a"] + 2.0 * (code % 3 == 0) - (code < 0)
    model = xgb.XGBRegressor(
        n_estimators=10, max_depth=4, enable_categorical=True, max_cat_to_onehot=max_cat_to_onehot
    ).fit(frame, y)
    parsed = parse_xgboost(model)
    assert (parsed.decision == 2).any()
    assert (parsed.category_stop - parsed.category_start).max() >= 2  # bitsets over 64 categories
    codes = np.column_stack([frame["a"], frame["c"].cat.codes.astype(float)])
    codes[codes[:, 1] < 0, 1] = np.nan
    assert_same_margin(parsed, codes, model.predict(frame, output_margin=True), dtype=np.float32)
    # unseen and negative categories: xgboost sends them left of its listed categories
    other = np.column_stack([rng.normal(size=200), rng.integers(-3, 300, 200).astype(float)])
    assert_same_margin(parsed, other, model_margin(model, other), dtype=np.float32)


def test_vector_leaves_and_linear_boosters_are_refused(regression):
    X, y = regression
    vector = xgb.XGBRegressor(
        n_estimators=2, multi_strategy="multi_output_tree", tree_method="hist"
    )
    vector.fit(X, np.column_stack([y, -y]))
    with pytest.raises(TypeError, match="vector leaves"):
        parse_xgboost(vector)
    linear = xgb.XGBRegressor(n_estimators=2, booster="gblinear").fit(X, y)
    with pytest.raises(TypeError, match="gblinear"):
        parse_xgboost(linear)


def test_covers_are_sum_hessian(regression):
    X, y = regression
    model = xgb.XGBRegressor(n_estimators=2, max_depth=3).fit(X, y)
    first = json.loads(bytes(model.get_booster().save_raw("json")))
    first = first["learner"]["gradient_booster"]["model"]["trees"][0]
    parsed = parse_xgboost(model)
    np.testing.assert_array_equal(
        parsed.cover[: len(first["sum_hessian"])], np.float32(first["sum_hessian"])
    )


def test_depth_30_tree():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30_000, 4)), rng.normal(size=30_000)  # noise: splits as deep as allowed
    settings = dict(n_estimators=1, min_child_weight=0, tree_method="exact", learning_rate=1.0)
    model = xgb.XGBRegressor(max_depth=30, reg_lambda=0.0, **settings).fit(X, y)
    parsed = parse_xgboost(model)
    depth = np.zeros(parsed.n_nodes, dtype=int)
    for node in range(parsed.n_nodes):  # parents come before their children in xgboost's order
        if parsed.left[node] >= 0:
            depth[parsed.left[node]] = depth[parsed.right[node]] = depth[node] + 1
    assert depth.max() == 30
    check = np.concatenate([X[:500], rng.normal(size=(300, 4))])
    assert_same_margin(parsed, check, model_margin(model, check), dtype=np.float32)


def test_tree_with_more_than_40000_nodes():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(25_000, 4)), rng.normal(size=25_000)
    settings = dict(n_estimators=1, min_child_weight=0, tree_method="exact", learning_rate=1.0)
    model = xgb.XGBRegressor(max_depth=60, reg_lambda=0.0, **settings).fit(X, y)
    parsed = parse_xgboost(model)
    assert parsed.n_nodes > 40_000
    check = np.concatenate([X[:500], rng.normal(size=(300, 4))])
    assert_same_margin(parsed, check, model_margin(model, check), dtype=np.float32)


@pytest.mark.parametrize(
    "objective",
    [
        "survival:cox",
        "survival:aft",
        "binary:hinge",
        "reg:quantileerror",
        "reg:pseudohubererror",
        "reg:squaredlogerror",
        "rank:pairwise",
        "reg:logistic",
    ],
)
def test_base_score_link_of_every_objective(objective, regression):
    """Each objective turns base_score into a margin its own way (logit, log, as it is)."""
    X, y = regression
    positive = np.exp(y / 4.0) + 1.0
    settings = {"objective": objective, "max_depth": 3}
    matrix = xgb.DMatrix(X, label=positive)
    if objective == "survival:aft":
        matrix = xgb.DMatrix(X)
        matrix.set_float_info("label_lower_bound", positive)
        matrix.set_float_info("label_upper_bound", 1.5 * positive)
    elif objective in ("binary:hinge", "reg:logistic"):
        matrix = xgb.DMatrix(X, label=(y > 0).astype(float))
    elif objective == "reg:quantileerror":
        settings["quantile_alpha"] = np.array([0.2, 0.8])
    elif objective == "rank:pairwise":
        matrix = xgb.DMatrix(X, label=np.round(positive))
        matrix.set_group([100] * (len(X) // 100))
    booster = xgb.train(settings, matrix, num_boost_round=5)
    margin = booster.predict(matrix, output_margin=True)
    assert_same_margin(parse_xgboost(booster), X, margin, dtype=np.float32)
