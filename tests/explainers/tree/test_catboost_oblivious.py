"""Leaf tables of CatBoost's oblivious trees (``_oblivious.py``): the values of the general walk
(every tree walked for every row) and of CatBoost's own ShapValues, to float64 rounding."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

cb = pytest.importorskip("catboost")

from shapwise.explainers.tree import TreeExplainer  # noqa: E402
from shapwise.explainers.tree import _core_calls as core  # noqa: E402
from shapwise.explainers.tree import _oblivious as oblivious  # noqa: E402
from shapwise.explainers.tree.parse_catboost import model_margin, parse_catboost  # noqa: E402
from tests.explainers.tree.conftest import (  # noqa: E402
    boundary_rows,
    classes_of,
    predict_rows,
    regression_data,
)

SETTINGS = dict(verbose=0, thread_count=1, random_seed=0, allow_writing_files=False)

CASES = {
    "regression": (cb.CatBoostRegressor, dict(), "regression"),
    "nan_mode Max": (cb.CatBoostRegressor, dict(nan_mode="Max"), "regression"),
    "logloss": (cb.CatBoostClassifier, dict(), "two classes"),
    "multiclass": (cb.CatBoostClassifier, dict(loss_function="MultiClass"), "three classes"),
}


def fitted(estimator, settings: dict, kind: str, depth: int = 4, n_rows: int = 400, trees=20):
    X, y = regression_data(n_rows=n_rows, missing=0.1)
    target = {"regression": y, "two classes": classes_of(y, 2), "three classes": classes_of(y, 3)}
    model = estimator(iterations=trees, depth=depth, **SETTINGS, **settings)
    return model.fit(X, target[kind])


def catboost_values(model, X: np.ndarray) -> np.ndarray:
    """CatBoost's ShapValues as (rows, features, outputs)."""
    native = model.get_feature_importance(cb.Pool(X), type="ShapValues")
    if native.ndim == 2:
        return native[:, :-1, None]
    return native.transpose(0, 2, 1)[:, :-1]  # (rows, classes, features + 1)


def rows_for(ensemble, n_rows: int, seed: int = 1) -> np.ndarray:
    """Rows with NaN, zeros and values on and next to the model's borders."""
    rows = predict_rows(n_rows=n_rows, seed=seed)
    return np.concatenate([rows, boundary_rows(ensemble, np.nan_to_num(rows[0]))])[:n_rows]


def assert_close(values: np.ndarray, expected: np.ndarray, rtol: float = 1e-12) -> None:
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(values, expected, rtol=0, atol=rtol * scale)


def test_catboost_trees_are_read_as_oblivious_levels():
    model = fitted(cb.CatBoostRegressor, {}, "regression", depth=3)
    ensemble = parse_catboost(model)
    levels = oblivious.oblivious_levels(ensemble)
    assert ensemble.oblivious and levels is not None
    assert levels.feature.shape == (ensemble.n_trees, 3)
    np.testing.assert_array_equal(levels.weight, np.tile([4, 2, 1], (ensemble.n_trees, 1)))
    np.testing.assert_array_equal(levels.leaf_start, 8 * np.arange(ensemble.n_trees + 1))
    # the root of every tree holds the split of depth 0, its children that of depth 1
    roots = ensemble.tree_start[:-1]
    np.testing.assert_array_equal(levels.feature[:, 0], ensemble.feature[roots])
    np.testing.assert_array_equal(levels.threshold[:, 1], ensemble.threshold[roots + 2])


def test_a_table_whose_levels_differ_is_walked():
    """The ``oblivious`` mark is a hint: a level whose nodes differ, or an unmarked table, gets
    no levels (and the explainer walks it), whatever the mark says."""
    ensemble = parse_catboost(fitted(cb.CatBoostRegressor, {}, "regression", depth=3))
    assert oblivious.oblivious_levels(dataclasses.replace(ensemble, oblivious=False)) is None
    threshold = ensemble.threshold.copy()
    threshold[ensemble.tree_start[3] + 2] += 0.5  # one node of depth 1 in tree 3
    assert oblivious.oblivious_levels(dataclasses.replace(ensemble, threshold=threshold)) is None
    feature = ensemble.feature.copy()
    feature[ensemble.tree_start[1] + 6] = (feature[ensemble.tree_start[1] + 6] + 1) % 5
    assert oblivious.oblivious_levels(dataclasses.replace(ensemble, feature=feature)) is None
    depthwise = cb.CatBoostRegressor(iterations=5, depth=3, grow_policy="Depthwise", **SETTINGS)
    X, y = regression_data()
    assert oblivious.oblivious_levels(parse_catboost(depthwise.fit(X, y))) is None


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("n_rows", [5, 300])
def test_leaf_tables_equal_the_walk_and_catboost(name, n_rows):
    """Rows fewer than the leaves (5 of 16 per tree) and many more (300): NaN, zeros and values
    on the borders, every output."""
    estimator, settings, kind = CASES[name]
    model = fitted(estimator, settings, kind)
    ensemble = parse_catboost(model)
    levels = oblivious.oblivious_levels(ensemble)
    X = rows_for(ensemble, n_rows)
    assert np.isnan(X).any() and len(X) == n_rows
    values = oblivious.path_dependent(ensemble, levels, X, n_jobs=2)
    walked = core.path_dependent(ensemble, X, n_jobs=2)
    assert values.shape == walked.shape == (n_rows, 5, ensemble.n_outputs)
    assert_close(values, walked)
    assert_close(values, catboost_values(model, X), rtol=1e-12)
    # the tables add up to CatBoost's own raw output
    margin = np.asarray(model_margin(model, X)).reshape(n_rows, -1)
    assert_close(values.sum(axis=1) + core.expected_margin(ensemble), margin, rtol=1e-12)


def test_a_feature_split_at_two_depths():
    """Two features and depth 6: every tree splits a feature at several depths, so some leaves
    no row can reach (x > 1 then x <= 0); the reached ones still give the walk's values."""
    X, y = regression_data(n_rows=400, missing=0.1)
    X2 = X[:, :2]
    model = cb.CatBoostRegressor(iterations=15, depth=6, **SETTINGS).fit(X2, y)
    ensemble = parse_catboost(model)
    levels = oblivious.oblivious_levels(ensemble)
    repeated = [len(set(f)) < len(f) for f in levels.feature.tolist()]
    assert all(repeated)
    rows = predict_rows(n_rows=2000)[:, :2]
    _, reaching = core.oblivious_leaves(levels, rows)
    assert (reaching < 0).sum() > ensemble.n_trees  # unreachable leaves exist
    values = oblivious.path_dependent(ensemble, levels, rows)
    assert_close(values, core.path_dependent(ensemble, rows))
    assert_close(values[:, :, 0], catboost_values(model, rows)[:, :, 0], rtol=1e-12)


def test_trees_of_different_depths_from_summed_models():
    X, y = regression_data(n_rows=400, missing=0.1)
    shallow = cb.CatBoostRegressor(iterations=8, depth=2, **SETTINGS).fit(X, y)
    deep = cb.CatBoostRegressor(iterations=8, depth=5, **SETTINGS).fit(X, y)
    model = cb.sum_models([shallow, deep])
    ensemble = parse_catboost(model)
    levels = oblivious.oblivious_levels(ensemble)
    assert levels is not None and levels.feature.shape == (16, 5)
    assert {4, 32} <= set(np.diff(levels.leaf_start).tolist())  # (CatBoost stops some early)
    rows = rows_for(ensemble, 400)
    values = oblivious.path_dependent(ensemble, levels, rows)
    assert_close(values, core.path_dependent(ensemble, rows))
    assert_close(values, catboost_values(model, rows), rtol=1e-12)


def test_rows_in_chunks_explain_each_leaf_once(monkeypatch):
    """Chunks of 3 rows: the leaves each chunk reaches first join the table; every row's values
    are still the walk's."""
    model = fitted(cb.CatBoostClassifier, dict(loss_function="MultiClass"), "three classes")
    ensemble = parse_catboost(model)
    levels = oblivious.oblivious_levels(ensemble)
    monkeypatch.setattr(oblivious, "SLOT_CHUNK", 3 * ensemble.n_trees)
    rows = rows_for(ensemble, 50)
    assert_close(
        oblivious.path_dependent(ensemble, levels, rows), core.path_dependent(ensemble, rows)
    )


def test_interaction_tables_equal_the_walk():
    model = fitted(cb.CatBoostClassifier, dict(loss_function="MultiClass"), "three classes")
    ensemble = parse_catboost(model)
    levels = oblivious.oblivious_levels(ensemble)
    rows = rows_for(ensemble, 120)
    values = oblivious.path_dependent(ensemble, levels, rows, interactions=True)
    walked = core.path_dependent(ensemble, rows, interactions=True)
    assert values.shape == (120, 5, 5, 3)
    assert_close(values, walked)


@pytest.mark.parametrize("name", ["regression", "logloss"])
def test_interaction_tables_equal_catboost_interaction_values(name):
    estimator, settings, kind = CASES[name]
    model = fitted(estimator, settings, kind)
    ensemble = parse_catboost(model)
    rows = rows_for(ensemble, 100)
    values = oblivious.path_dependent(
        ensemble, oblivious.oblivious_levels(ensemble), rows, interactions=True
    )
    native = model.get_feature_importance(cb.Pool(rows), type="ShapInteractionValues")
    assert_close(values[..., 0], native[:, :-1, :-1])


def test_tree_features_keep_each_split_feature_once():
    X, y = regression_data(n_rows=300)
    model = cb.CatBoostRegressor(iterations=6, depth=5, **SETTINGS).fit(X[:, :3], y)
    levels = oblivious.oblivious_levels(parse_catboost(model))
    features = oblivious.tree_features(levels)
    for row, split in zip(features.tolist(), levels.feature.tolist(), strict=True):
        assert sorted(f for f in row if f >= 0) == sorted(set(split))


def test_the_explainer_takes_the_tables_where_they_pay():
    """Depth 4 (16 leaves a tree): 10 rows are walked, 400 rows come from the tables; both give
    CatBoost's values, the base value and additivity included."""
    model = fitted(cb.CatBoostRegressor, {}, "regression")
    explainer = TreeExplainer(model)
    levels = oblivious.oblivious_levels(explainer.ensemble)
    few, many = rows_for(explainer.ensemble, 10), rows_for(explainer.ensemble, 400)
    assert not oblivious.leaf_tables_pay(len(few), explainer.ensemble, levels)
    assert oblivious.leaf_tables_pay(len(many), explainer.ensemble, levels)
    tables = oblivious.path_dependent(explainer.ensemble, levels, many, n_jobs=explainer.n_jobs)
    np.testing.assert_array_equal(explainer.shap_values(many), tables[:, :, 0])
    for X in (few, many):
        assert_close(explainer.shap_values(X), catboost_values(model, X)[:, :, 0], rtol=1e-12)
    interactions = explainer.shap_interaction_values(many)
    assert_close(
        interactions, core.path_dependent(explainer.ensemble, many, interactions=True)[..., 0]
    )


def test_the_tables_need_memory_within_the_budget(monkeypatch):
    model = fitted(cb.CatBoostRegressor, {}, "regression")
    ensemble = parse_catboost(model)
    levels = oblivious.oblivious_levels(ensemble)
    # a leaf's row holds its tree's 4 split features (depth 4), not all 5
    monkeypatch.setattr(oblivious, "TABLE_BYTES", 8 * levels.n_leaves * 4)
    assert oblivious.leaf_tables_pay(1000, ensemble, levels)
    monkeypatch.setattr(oblivious, "TABLE_BYTES", 8 * levels.n_leaves * 4 - 1)
    assert not oblivious.leaf_tables_pay(1000, ensemble, levels)
    assert oblivious.leaf_tables_pay(1000, ensemble, levels, interactions=False) is False
    monkeypatch.setattr(oblivious, "TABLE_BYTES", 8 * levels.n_leaves * 16)
    assert oblivious.leaf_tables_pay(1000, ensemble, levels, interactions=True)


def test_the_core_refuses_slots_outside_the_table():
    levels = oblivious.oblivious_levels(
        parse_catboost(fitted(cb.CatBoostRegressor, {}, "regression"))
    )
    targets = np.array([[0, 1], [1, -1]])
    with pytest.raises(ValueError, match="outside the table"):
        core.add_table_rows(np.zeros((4, 2)), np.array([[0, 4]]), targets, np.zeros((1, 2)))
    with pytest.raises(ValueError, match="outside the rows"):
        core.add_table_rows(np.zeros((4, 2)), np.array([[0, 3]]), targets + 1, np.zeros((1, 2)))
    bad = dataclasses.replace(levels, feature=levels.feature + 5)
    with pytest.raises(ValueError, match="feature"):
        core.oblivious_leaves(bad, np.zeros((2, 5)))


def test_table_rows_are_added_at_their_targets():
    table = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    slots = np.array([[0, 2], [1, 1]])  # row 0: slot 0 for tree 0, slot 2 for tree 1
    targets = np.array([[0, 1], [1, -1]])  # tree 1 keeps its first value only, at place 1
    out = np.zeros((2, 2))
    core.add_table_rows(table, slots, targets, out)
    np.testing.assert_array_equal(out, [[1.0, 2.0 + 5.0], [3.0, 4.0 + 3.0]])


def test_tables_do_not_depend_on_threads_or_chunks(monkeypatch):
    """Each leaf's row comes from a row that reaches it, and every such row walks the tree the
    same way: values are the same bit for bit on 1 or 2 threads, in one chunk or many."""
    model = fitted(cb.CatBoostClassifier, dict(loss_function="MultiClass"), "three classes")
    ensemble = parse_catboost(model)
    levels = oblivious.oblivious_levels(ensemble)
    rows = rows_for(ensemble, 200)
    one = oblivious.path_dependent(ensemble, levels, rows, n_jobs=1)
    np.testing.assert_array_equal(one, oblivious.path_dependent(ensemble, levels, rows, n_jobs=2))
    monkeypatch.setattr(oblivious, "SLOT_CHUNK", 7 * ensemble.n_trees)
    np.testing.assert_array_equal(one, oblivious.path_dependent(ensemble, levels, rows, n_jobs=2))
