"""LightGBM models: the parsed table gives LightGBM's own raw score, to 1e-12 (it sums in float64)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

lgb = pytest.importorskip("lightgbm")

from shapwise.explainers.tree._table import (  # noqa: E402
    LEFT_IF_IN_CATEGORIES,
    LOGISTIC,
    MISSING_AS_ZERO,
    MISSING_NAN_OR_ZERO,
    SOFTMAX,
    check_against_model,
)
from shapwise.explainers.tree.parse_lightgbm import model_margin, parse_lightgbm  # noqa: E402
from tests.explainers.tree.conftest import assert_same_margin, boundary_rows  # noqa: E402
from tests.explainers.tree.truth import path_dependent_game, shapley_values  # noqa: E402

SMALL = dict(
    n_estimators=10,
    num_leaves=16,
    min_child_samples=5,
    min_data_per_group=5,
    cat_smooth=1.0,
    max_cat_threshold=64,
    verbose=-1,
)


def _data(seed: int, n: int = 600):
    """Column 2 is categorical (150 categories: bitsets over two words); zeros and NaN elsewhere."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[:, 2] = rng.integers(0, 150, n)
    X[rng.random((n, 4)) < 0.1] = np.nan
    X[rng.random(n) < 0.2, 0] = 0.0
    y = np.nan_to_num(X[:, 0]) + 5.0 * (np.nan_to_num(X[:, 2]) % 3 == 0)
    y = y + np.isnan(X[:, 1]) + 3.0 * (X[:, 0] == 0.0)
    return X, y


@pytest.fixture(scope="module")
def data():
    X, y = _data(0)
    rows, _ = _data(1, 300)
    rows[::7, 2] = -2.0  # negative category
    rows[::11, 2] = 400.0  # unseen category
    rows[::13, 0] = 1e-36  # LightGBM reads |x| <= 1e-35 as zero
    rows[::17, 3] = -5e-36
    rows[::19, 2] = 1e-36
    return X, y, rows


CASES = {
    "regression": (dict(), "regression"),
    "missing_type Zero": (dict(zero_as_missing=True), "regression"),
    "missing_type None": (dict(use_missing=False), "regression"),
    "binary": (dict(), "two classes"),
    "multiclass": (dict(), "three classes"),
    "multiclass one-vs-all": (dict(objective="multiclassova"), "three classes"),
    "cross entropy": (dict(objective="cross_entropy"), "probability"),
    "poisson": (dict(objective="poisson"), "positive"),
    "random forest": (dict(boosting_type="rf", bagging_freq=1, bagging_fraction=0.7), "regression"),
}


def _fit(name, X, y):
    settings, kind = CASES[name]
    target = {
        "regression": y,
        "two classes": (y > 1).astype(int),
        "three classes": np.digitize(y, [0.5, 1.5]),
        "probability": (y > 1).astype(float),
        "positive": np.exp(y / 3.0),
    }[kind]
    is_classifier = kind in ("two classes", "three classes")
    estimator = lgb.LGBMClassifier if is_classifier else lgb.LGBMRegressor
    return estimator(**SMALL, **settings).fit(X, target, categorical_feature=[2])


@pytest.mark.parametrize("name", list(CASES))
def test_margin_equals_lightgbm_raw_score(name, data):
    X, y, rows = data
    model = _fit(name, X, y)
    parsed = parse_lightgbm(model)
    assert parsed.library == "lightgbm" and (parsed.decision == LEFT_IF_IN_CATEGORIES).any()
    assert np.isnan(rows).any() and (rows[:, 0] == 0).any()
    assert_same_margin(parsed, rows, model_margin(model, rows))
    on_thresholds = boundary_rows(parsed, rows[0])
    assert_same_margin(parsed, on_thresholds, model_margin(model, on_thresholds))
    check_against_model(parsed, rows[:10], model_margin(model, rows[:10]))


def test_missing_types_reach_the_table(data):
    X, y, _ = data
    assert (parse_lightgbm(_fit("missing_type Zero", X, y)).missing == MISSING_NAN_OR_ZERO).any()
    assert (parse_lightgbm(_fit("missing_type None", X, y)).missing == MISSING_AS_ZERO).any()
    assert parse_lightgbm(_fit("binary", X, y)).objective == LOGISTIC
    assert parse_lightgbm(_fit("multiclass", X, y)).objective == SOFTMAX


def test_random_forest_margin_is_the_average_predict_gives(data):
    X, y, rows = data
    model = _fit("random forest", X, y)
    assert_same_margin(parse_lightgbm(model), rows, model.predict(rows))


def test_covers_are_counts_that_give_lightgbm_pred_contrib(data):
    """Brute-force path-dependent values over the table equal LightGBM's exact TreeSHAP."""
    X, y, rows = data
    model = lgb.LGBMRegressor(n_estimators=5, num_leaves=8, verbose=-1).fit(X, y)
    parsed = parse_lightgbm(model)
    contributions = model.predict(rows[:4], pred_contrib=True)
    for r in range(4):
        game = path_dependent_game(parsed, rows[r])
        np.testing.assert_allclose(shapley_values(game)[:, 0], contributions[r, :-1], atol=1e-12)
        np.testing.assert_allclose(game[0, 0], contributions[r, -1], rtol=1e-12)


def test_pandas_categorical_is_read_as_codes():
    rng = np.random.default_rng(0)
    n = 500
    codes = rng.integers(0, 90, n)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "c": pd.Categorical.from_codes(codes, categories=[f"k{i}" for i in range(90)]),
        }
    )
    y = frame["a"] + 4.0 * (codes % 4 == 1)
    model = lgb.LGBMRegressor(**SMALL).fit(frame, y)
    parsed = parse_lightgbm(model)
    assert parsed.feature_names == ["a", "c"]
    numeric = np.column_stack([frame["a"], codes.astype(float)])
    assert_same_margin(parsed, numeric, model.predict(frame, raw_score=True))


def test_early_stopping_dump_holds_the_trees_predict_uses(data):
    X, y, rows = data
    model = lgb.LGBMRegressor(n_estimators=300, learning_rate=0.3, verbose=-1)
    model.fit(
        X[:400],
        y[:400],
        eval_set=[(X[400:], y[400:])],
        callbacks=[lgb.early_stopping(3, verbose=False)],
    )
    assert model.best_iteration_ < 300
    parsed = parse_lightgbm(model)
    assert parsed.n_trees == model.best_iteration_
    assert_same_margin(parsed, rows, model.predict(rows, raw_score=True))


def test_linear_trees_are_refused(data):
    X, y, _ = data
    model = lgb.LGBMRegressor(n_estimators=2, linear_tree=True, verbose=-1).fit(np.nan_to_num(X), y)
    with pytest.raises(TypeError, match="linear trees"):
        parse_lightgbm(model)


def _tree_text(index, left, right, feature, threshold, decision, leaf_value) -> str:
    """One tree in LightGBM's model text format (children >= 0 are splits, ~leaf are leaves)."""

    def joined(values) -> str:
        return " ".join(
            repr(float(v)) if np.issubdtype(np.asarray(v).dtype, np.floating) else str(int(v))
            for v in values
        )

    n_splits, n_leaves = len(left), len(leaf_value)
    return "\n".join(
        [
            f"Tree={index}",
            f"num_leaves={n_leaves}",
            "num_cat=0",
            f"split_feature={joined(feature)}",
            f"split_gain={joined(np.ones(n_splits))}",
            f"threshold={joined(threshold)}",
            f"decision_type={joined(decision)}",
            f"left_child={joined(left)}",
            f"right_child={joined(right)}",
            f"leaf_value={joined(leaf_value)}",
            f"leaf_weight={joined(np.ones(n_leaves))}",
            f"leaf_count={joined(np.ones(n_leaves, dtype=int))}",
            f"internal_value={joined(np.zeros(n_splits))}",
            f"internal_weight={joined(np.ones(n_splits))}",
            f"internal_count={joined(np.ones(n_splits, dtype=int))}",
            "is_linear=0",
            "shrinkage=1",
            "",
            "",
        ]
    )


def test_tree_with_65535_nodes_and_a_depth_30_chain():
    """Written in LightGBM's own text format (training trees this large takes minutes)."""
    rng = np.random.default_rng(0)
    n_features, n_splits = 4, 2**15 - 1
    split = np.arange(n_splits)

    def child(position):  # heap order; positions past the splits are leaves
        return np.where(position < n_splits, position, ~(position - n_splits))

    # decision_type 8: missing type NaN, NaN goes right; 10: NaN goes left
    complete = _tree_text(
        0, child(2 * split + 1), child(2 * split + 2), rng.integers(0, n_features, n_splits),
        rng.normal(size=n_splits), rng.choice([8, 10], n_splits), rng.normal(size=n_splits + 1),
    )  # fmt: skip
    depth = 30
    link = np.arange(depth)
    chain = _tree_text(
        1, ~link, np.where(link + 1 < depth, link + 1, ~depth), rng.integers(0, n_features, depth),
        np.sort(rng.normal(size=depth)), np.full(depth, 8), rng.normal(size=depth + 1),
    )  # fmt: skip
    header = [
        "tree", "version=v4", "num_class=1", "num_tree_per_iteration=1", "label_index=0",
        f"max_feature_idx={n_features - 1}", "objective=regression",
        "feature_names=" + " ".join(f"f{i}" for i in range(n_features)),
        "feature_infos=" + " ".join("[-10:10]" for _ in range(n_features)), "", "",
    ]  # fmt: skip
    booster = lgb.Booster(model_str="\n".join(header) + complete + chain + "end of trees\n")
    parsed = parse_lightgbm(booster)
    assert parsed.tree_start[1] == 2 * n_splits + 1 > 40_000
    depth_of = np.zeros(parsed.n_nodes, dtype=int)
    for node in range(parsed.n_nodes):  # parents come before their children
        if parsed.left[node] >= 0:
            depth_of[parsed.left[node]] = depth_of[parsed.right[node]] = depth_of[node] + 1
    assert depth_of[parsed.tree_start[1] :].max() == 30
    X = rng.normal(size=(2000, n_features))
    X[rng.random(X.shape) < 0.1] = np.nan
    assert_same_margin(parsed, X, booster.predict(X, raw_score=True))
