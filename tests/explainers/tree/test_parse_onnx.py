"""ONNX tree ensembles: the parsed table gives onnxruntime's scores (before post_transform).

ONNX stores weights in float32 and onnxruntime adds them in float32, so the bound is the float32
rounding bound of the sum (``margin_tolerance``); the scikit-learn models the graphs come from
are a second, independent truth.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

from onnx import TensorProto, helper  # noqa: E402
from sklearn import ensemble, tree  # noqa: E402

from shapwise.explainers.tree._table import (  # noqa: E402
    LOGISTIC,
    SOFTMAX,
    check_against_model,
    margin_tolerance,
    predict_margin,
)
from shapwise.explainers.tree.parse_onnx import model_margin, parse_onnx  # noqa: E402
from tests.explainers.tree.conftest import (  # noqa: E402
    assert_same_margin,
    boundary_rows,
    classes_of,
)

CASES = [
    (tree.DecisionTreeRegressor(max_depth=6, random_state=0), "regression", "predict"),
    (
        ensemble.RandomForestRegressor(n_estimators=5, max_depth=5, random_state=0),
        "regression",
        "predict",
    ),
    (
        ensemble.RandomForestClassifier(n_estimators=5, max_depth=5, random_state=0),
        "two classes",
        "predict_proba",
    ),
    (
        ensemble.ExtraTreesClassifier(n_estimators=5, max_depth=5, random_state=0),
        "three classes",
        "predict_proba",
    ),
    (ensemble.GradientBoostingRegressor(n_estimators=8, random_state=0), "regression", "predict"),
    (
        ensemble.GradientBoostingClassifier(n_estimators=8, random_state=0),
        "two classes",
        "decision_function",
    ),
    (
        ensemble.GradientBoostingClassifier(n_estimators=5, random_state=0),
        "three classes",
        "decision_function",
    ),
]


def _to_onnx(model, X):
    options = {"zipmap": False} if hasattr(model, "classes_") else None
    return skl2onnx.to_onnx(
        model, X[:1].astype(np.float32), target_opset={"": 17, "ai.onnx.ml": 3}, options=options
    )


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{type(case[0]).__name__}-{case[1]}")
def test_margin_equals_onnxruntime_and_the_source_model(case, regression, rows):
    model, kind, method = case
    X, y = regression
    target = {"regression": y, "two classes": classes_of(y, 2), "three classes": classes_of(y, 3)}
    model.fit(X, target[kind])
    graph = _to_onnx(model, X)
    parsed = parse_onnx(graph)
    assert not parsed.has_covers
    finite = np.nan_to_num(rows)
    scores = model_margin(graph, finite)
    assert_same_margin(parsed, finite, scores, dtype=np.float32)
    on_thresholds = boundary_rows(parsed, finite[0])
    assert_same_margin(parsed, on_thresholds, model_margin(graph, on_thresholds), dtype=np.float32)
    check_against_model(parsed, finite[:10], scores[:10])
    # the source model on the same float32-rounded rows: its outputs, to float32 weight rounding
    source = getattr(model, method)(finite.astype(np.float32))
    source = source[:, 1:] if method == "predict_proba" and source.shape[1] == 2 else source
    table = predict_margin(parsed, finite)
    bound = margin_tolerance(parsed, np.float32) + 1e-6 * max(1.0, float(np.abs(source).max()))
    np.testing.assert_array_less(np.abs(table - source.reshape(table.shape)), bound)


def test_objectives_follow_post_transform(regression):
    X, y = regression
    binary = ensemble.GradientBoostingClassifier(n_estimators=3).fit(X, y > 0)
    multi = ensemble.GradientBoostingClassifier(n_estimators=3).fit(X, classes_of(y, 3))
    assert parse_onnx(_to_onnx(binary, X)).objective == LOGISTIC
    assert parse_onnx(_to_onnx(multi, X)).objective == SOFTMAX


def _hand_built(input_type: int):
    """One tree using every node mode, NaN tracking on some splits (features 0..2)."""
    #        0: x0 >= 0.5 (NaN true)
    #     1: x1 == 2 (NaN false)        2: x1 != -1 (NaN false)
    #  3: x2 > 0.25 (NaN true)  4      5   6: x2 < 0.1 (NaN true)
    #  7   8                          9  10
    node_ids = list(range(11))
    modes = ["BRANCH_GTE", "BRANCH_EQ", "BRANCH_NEQ", "BRANCH_GT", "LEAF", "LEAF", "BRANCH_LT"]
    modes += ["LEAF"] * 4
    features = [0, 1, 1, 2, 0, 0, 2, 0, 0, 0, 0]
    values = [0.5, 2.0, -1.0, 0.25, 0, 0, 0.1, 0, 0, 0, 0]
    true_ids = [1, 3, 5, 7, 0, 0, 9, 0, 0, 0, 0]
    false_ids = [2, 4, 6, 8, 0, 0, 10, 0, 0, 0, 0]
    tracks = [1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0]
    leaves = [4, 5, 7, 8, 9, 10]
    node = helper.make_node(
        "TreeEnsembleRegressor",
        ["X"],
        ["Y"],
        domain="ai.onnx.ml",
        n_targets=1,
        nodes_treeids=[0] * 11,
        nodes_nodeids=node_ids,
        nodes_featureids=features,
        nodes_values=values,
        nodes_modes=modes,
        nodes_truenodeids=true_ids,
        nodes_falsenodeids=false_ids,
        nodes_missing_value_tracks_true=tracks,
        target_treeids=[0] * 6,
        target_nodeids=leaves,
        target_ids=[0] * 6,
        target_weights=[1.0, 2.0, 4.0, 8.0, 16.0, 32.0],
        base_values=[100.0],
        post_transform="NONE",
    )
    graph = helper.make_graph(
        [node],
        "hand",
        [helper.make_tensor_value_info("X", input_type, [None, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    model.ir_version = 8
    return model


@pytest.mark.parametrize("input_type", [TensorProto.FLOAT, TensorProto.DOUBLE])
def test_every_node_mode_and_nan_tracking(input_type):
    model = _hand_built(input_type)
    parsed = parse_onnx(model)
    grid = []
    for value in (0.5, 2.0, -1.0, 0.25, 0.1):
        grid += [value, np.nextafter(value, np.inf), np.nextafter(value, -np.inf)]
        grid += [float(np.nextafter(np.float32(value), np.float32(np.inf)))]
        grid += [float(np.nextafter(np.float32(value), np.float32(-np.inf)))]
    grid += [np.nan, 0.0, 3.0, -3.0]
    mesh = np.array(np.meshgrid(grid, grid, grid)).reshape(3, -1).T
    scores = model_margin(model, mesh)
    dtype = np.float32 if input_type == TensorProto.FLOAT else np.float64
    assert_same_margin(
        parsed, mesh, scores, dtype=np.float32 if dtype == np.float32 else np.float64
    )
    # by hand: x0 = NaN tracks true, then x1 == 2 and x2 NaN (tracks true): leaf 7 (4.0)
    np.testing.assert_array_equal(
        predict_margin(parsed, np.array([[np.nan, 2.0, np.nan]])), [[104.0]]
    )
    # x0 < 0.5; x1 = NaN != -1 is true: leaf 5 (2.0)
    np.testing.assert_array_equal(predict_margin(parsed, np.array([[0.0, np.nan, 0.0]])), [[102.0]])


def test_graphs_without_a_tree_ensemble_are_refused():
    node = helper.make_node("Relu", ["X"], ["Y"])
    graph = helper.make_graph(
        [node],
        "relu",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 3])],
    )
    with pytest.raises(TypeError, match="0 TreeEnsembleRegressor/TreeEnsembleClassifier"):
        parse_onnx(helper.make_model(graph))
