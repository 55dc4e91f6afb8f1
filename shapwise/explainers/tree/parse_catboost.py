"""CatBoost models into the node table, read from the model's JSON (``save_model(format="json")``).

- Oblivious trees (the default): one split per level, the same across the level; split i gives
  bit i of the leaf index (1 when ``x > border``). Each is expanded into a full binary tree with
  the last split at the root and split 0 above the leaves, the order CatBoost's own TreeSHAP
  walks: path-dependent values depend on the order (a hidden feature's cover ratios are taken
  below the known splits), and in this one they equal ``get_feature_importance(type=
  "ShapValues")`` (the "Regular" calculation). CatBoost's ``shap_calc_type="Exact"`` computes
  another game (it differs from "Regular" by as much as from ours, and is not the
  cover-weighted conditional expectation over the leaves either): it is not reproduced.
  The ensemble is marked ``oblivious``: path-dependent values of many rows then come from
  per-leaf tables (``_oblivious.py``, which checks the layout on the arrays).
- Non-symmetric trees (``grow_policy`` "Depthwise" / "Lossguide") are read
  node by node.
- CatBoost rounds inputs to float32 and sends x right when ``float32(x) > border``; borders are
  moved so that float64 inputs branch the same (see ``thresholds_for_float32_inputs``).
- NaN goes where ``nan_value_treatment`` says ("AsTrue": right, as the largest value; otherwise
  left, as the smallest).
- The margin is ``scale * sum of leaf values + bias`` (``scale_and_bias``); multiclass models keep
  one value per class in each leaf. Covers are the leaf weights (their sums above the leaves).
- Splits on categorical features (one-hot or CTR), text or embedding features hash their inputs
  and cannot be read as a node table: such models are refused by name.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np

from ._table import (
    IDENTITY,
    LEFT_IF_LESS_EQUAL,
    LOGISTIC,
    MISSING_NAN,
    SOFTMAX,
    Tree,
    TreeEnsemble,
    assemble,
    flatten_nested,
    thresholds_for_float32_inputs,
)


def parse_catboost(model: Any) -> TreeEnsemble:
    """The node table of a fitted CatBoost model (its JSON written to a temporary folder)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.json")
        model.save_model(path, format="json")
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
    loss = ""
    try:
        loss = str(model.get_all_params().get("loss_function", ""))
    except Exception:  # an unfitted or foreign object: the JSON alone decides
        loss = ""
    names = list(getattr(model, "feature_names_", None) or []) or None
    return parse_catboost_json(document, model_type=type(model).__name__, loss=loss, names=names)


def parse_catboost_json(
    document: dict, model_type: str = "CatBoost", loss: str = "", names: list[str] | None = None
) -> TreeEnsemble:
    """The node table of a CatBoost JSON model document."""
    info = document.get("features_info", {})
    for kind in ("categorical_features", "text_features", "embedding_features"):
        if info.get(kind):
            _refuse_feature_kind(kind, document)
    float_features = info.get("float_features", [])
    flat_index = {f["feature_index"]: f["flat_feature_index"] for f in float_features}
    nan_goes_right = {
        f["feature_index"]: f.get("nan_value_treatment", "AsFalse") == "AsTrue"
        for f in float_features
    }
    n_features = 1 + max((f["flat_feature_index"] for f in float_features), default=0)
    scale, bias = document.get("scale_and_bias", [1.0, [0.0]])
    bias = np.atleast_1d(np.asarray(bias, dtype=np.float64))
    n_outputs = len(bias)
    context = (flat_index, nan_goes_right, n_outputs, float(scale))
    if "oblivious_trees" in document:
        trees = [_oblivious_tree(tree, *context) for tree in document["oblivious_trees"]]
    elif "trees" in document:
        trees = [_non_symmetric_tree(tree, *context) for tree in document["trees"]]
    else:
        raise ValueError("CatBoost JSON model has neither oblivious_trees nor trees")
    name = loss.split(":")[0]
    if name in ("Logloss", "CrossEntropy", "MultiClassOneVsAll"):
        objective = LOGISTIC
    elif name == "MultiClass":
        objective = SOFTMAX
    else:
        objective = IDENTITY
    ensemble = assemble(
        trees,
        tree_output=[-1] * len(trees),
        base_offset=bias,
        n_features=n_features,
        objective=objective,
        library="catboost",
        model_type=model_type,
        feature_names=names,
    )
    ensemble.oblivious = "oblivious_trees" in document  # built in heap order, one split a level
    return ensemble


def _refuse_feature_kind(kind: str, document: dict) -> None:
    used = {
        split.get("split_type")
        for tree in document.get("oblivious_trees", [])
        for split in tree.get("splits", [])
    }
    raise TypeError(
        f"this CatBoost model has {kind.replace('_', ' ')}"
        f"{' (splits: ' + ', '.join(sorted(s for s in used if s)) + ')' if used else ''}; "
        "CatBoost hashes those inputs (one-hot and CTR splits), which shapwise cannot read as "
        "plain tree splits. Encode them as numbers before training to explain the model"
    )


def _split_of(split: dict, flat_index: dict, nan_goes_right: dict) -> tuple[int, float, bool]:
    """(feature column, border, NaN goes left) of a float split; other splits are refused."""
    if split.get("split_type", "FloatFeature") != "FloatFeature":
        raise TypeError(
            f"CatBoost split type {split.get('split_type')!r} (on categorical or text features) is "
            "not supported; only float feature splits can be explained exactly"
        )
    index = split["float_feature_index"]
    return int(flat_index[index]), float(np.float32(split["border"])), not nan_goes_right[index]


def _leaf_block(values: list, weights: list, n_outputs: int, scale: float):
    value = np.asarray(values, dtype=np.float64).reshape(-1, n_outputs) * scale
    return value, np.asarray(weights, dtype=np.float64)


def _oblivious_tree(
    tree: dict, flat_index: dict, nan_goes_right: dict, n_outputs: int, scale: float
) -> Tree:
    splits = [_split_of(s, flat_index, nan_goes_right) for s in tree.get("splits", [])]
    depth = len(splits)
    leaf_value, leaf_weight = _leaf_block(
        tree["leaf_values"], tree.get("leaf_weights", [1.0] * 2**depth), n_outputs, scale
    )
    # heap order: node k has children 2k+1 (left) and 2k+2 (right). The last split sits at the
    # root and split 0 above the leaves, as in CatBoost's own TreeSHAP: the leaf at heap position
    # n_internal + p then has CatBoost's leaf index p (split d gives bit d). The order changes no
    # prediction, but it does change path-dependent values (a hidden feature's cover ratios
    # are taken below the known ones), so this order gives CatBoost's ShapValues.
    n_internal = 2**depth - 1
    n_nodes = 2 * n_internal + 1
    nodes = np.arange(n_nodes)
    internal = nodes < n_internal
    level = np.floor(np.log2(nodes + 1)).astype(np.int64)
    left = np.where(internal, 2 * nodes + 1, -1)
    right = np.where(internal, 2 * nodes + 2, -1)
    feature = np.full(n_nodes, -1, dtype=np.int64)
    border = np.zeros(n_nodes)
    default_left = np.zeros(n_nodes, dtype=bool)
    for d, (column, split_border, nan_left) in enumerate(splits):
        at = internal & (level == depth - 1 - d)
        feature[at], border[at], default_left[at] = column, split_border, nan_left
    value = np.zeros((n_nodes, n_outputs))
    cover = np.zeros(n_nodes)
    value[n_internal:] = leaf_value
    cover[n_internal:] = leaf_weight
    for node in range(n_internal - 1, -1, -1):
        cover[node] = cover[2 * node + 1] + cover[2 * node + 2]
    decision = np.full(n_nodes, LEFT_IF_LESS_EQUAL, dtype=np.int8)
    threshold, decision = thresholds_for_float32_inputs(border, decision)
    threshold[~internal] = 0.0
    return Tree(
        left=left,
        right=right,
        feature=feature,
        threshold=threshold,
        decision=decision,
        missing=np.full(n_nodes, MISSING_NAN, dtype=np.int8),
        default_left=default_left,
        cover=cover,
        value=value,
    )


def _non_symmetric_tree(
    tree: dict, flat_index: dict, nan_goes_right: dict, n_outputs: int, scale: float
) -> Tree:
    nodes, left, right = flatten_nested(tree, "split", "left", "right")
    n = len(nodes)
    feature = np.full(n, -1, dtype=np.int64)
    border = np.zeros(n)
    default_left = np.zeros(n, dtype=bool)
    value = np.zeros((n, n_outputs))
    cover = np.zeros(n)
    for position, node in enumerate(nodes):
        if "split" in node:
            feature[position], border[position], default_left[position] = _split_of(
                node["split"], flat_index, nan_goes_right
            )
        else:
            value[position] = np.atleast_1d(np.asarray(node["value"], dtype=np.float64)) * scale
            cover[position] = float(node.get("weight", 0.0))
    for position in range(n - 1, -1, -1):  # children come after their parent
        if left[position] >= 0:
            cover[position] = cover[left[position]] + cover[right[position]]
    decision = np.full(n, LEFT_IF_LESS_EQUAL, dtype=np.int8)
    threshold, decision = thresholds_for_float32_inputs(border, decision)
    threshold[left < 0] = 0.0
    return Tree(
        left=left,
        right=right,
        feature=feature,
        threshold=threshold,
        decision=decision,
        missing=np.full(n, MISSING_NAN, dtype=np.int8),
        default_left=default_left,
        cover=cover,
        value=value,
    )


def model_margin(model: Any, X: np.ndarray) -> np.ndarray:
    """CatBoost's own raw output (``prediction_type="RawFormulaVal"``) on numeric rows."""
    return np.asarray(
        model.predict(np.asarray(X, dtype=np.float64), prediction_type="RawFormulaVal")
    )
