"""LightGBM models into the node table, read from ``Booster.dump_model()`` (no import needed).

- Leaf values already carry the shrinkage and, in the first trees, the initial score. A model in
  random-forest mode (``average_output``) has them divided by the number of iterations: its margin
  is the average over trees that ``predict`` gives (LightGBM's ``raw_score=True`` gives the sum).
- Multiclass models have ``num_tree_per_iteration`` trees per round, tree t adding to output
  ``t % num_tree_per_iteration``.
- Numerical splits send x left when ``x <= threshold`` (LightGBM compares in float64).
  ``missing_type`` "NaN": NaN follows ``default_left``; "Zero": NaN and 0 follow it; "None": NaN
  is read as 0. LightGBM reads every |x| <= 1e-35 as 0 (``zero_threshold`` of the table; numeric
  thresholds in that band are moved so such inputs branch as 0 does even without it).
- Categorical splits ("==") list the categories that go left, as many as there are (no size
  limit). LightGBM reads a value as the category int(x) (2.7 as 2, -0.5 as 0: the table's
  ``category_rule`` "truncate"); NaN and values of no category go right. Categorical features are read as LightGBM's integer
  codes (pandas category codes for a model fitted on a DataFrame).
- Covers are the training counts (``internal_count`` / ``leaf_count``), which LightGBM's own
  ``pred_contrib`` uses.
- The dump holds the trees ``predict`` uses by default: up to the best iteration where the model
  stopped early.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._table import (
    CATEGORY_TRUNCATE,
    IDENTITY,
    LEFT_IF_IN_CATEGORIES,
    LEFT_IF_LESS_EQUAL,
    LOGISTIC,
    MISSING_AS_ZERO,
    MISSING_NAN,
    MISSING_NAN_OR_ZERO,
    SOFTMAX,
    Tree,
    TreeEnsemble,
    assemble,
    flatten_nested,
)

# LightGBM reads every input with |x| <= this (1e-35 in float32) as zero
ZERO_THRESHOLD = float(np.float32(1e-35))
_MISSING = {"None": MISSING_AS_ZERO, "Zero": MISSING_NAN_OR_ZERO, "NaN": MISSING_NAN}


def booster_of(model: Any) -> Any:
    """The ``lightgbm.Booster`` of a scikit-learn wrapper, or the booster itself."""
    return model.booster_ if hasattr(model, "booster_") else model


def parse_lightgbm(model: Any) -> TreeEnsemble:
    """The node table of a LightGBM model (a scikit-learn wrapper or a ``Booster``)."""
    return parse_lightgbm_dump(booster_of(model).dump_model(), model_type=type(model).__name__)


def parse_lightgbm_dump(dump: dict, model_type: str = "Booster") -> TreeEnsemble:
    """The node table of a LightGBM model dump (``Booster.dump_model()``)."""
    per_iteration = int(dump.get("num_tree_per_iteration", 1))
    n_outputs = max(per_iteration, 1)
    tree_info = dump["tree_info"]
    scale = 1.0
    if dump.get("average_output", False):
        scale = 1.0 / max(len(tree_info) // n_outputs, 1)
    trees, tree_output = [], []
    for index, info in enumerate(tree_info):
        output = index % n_outputs if n_outputs > 1 else -1
        trees.append(_parse_tree(info, n_outputs, max(output, 0), scale))
        tree_output.append(output)
    objective = _objective(str(dump.get("objective", "")))
    names = dump.get("feature_names") or None
    ensemble = assemble(
        trees,
        tree_output=tree_output,
        base_offset=np.zeros(n_outputs),
        n_features=int(dump["max_feature_idx"]) + 1,
        objective=objective,
        library="lightgbm",
        model_type=model_type,
        feature_names=list(names) if names else None,
    )
    ensemble.zero_threshold = ZERO_THRESHOLD
    ensemble.category_rule = CATEGORY_TRUNCATE  # LightGBM reads int(x): 2.7 is 2, -0.5 is 0
    return ensemble


def _threshold_for_zero_band(threshold: float) -> float:
    """A threshold that branches x as LightGBM branches x read as 0 when |x| <= 1e-35.

    The dump writes infinite thresholds as +-1e300; they are infinite again here.
    """
    if abs(threshold) >= 1e300:
        return float(np.copysign(np.inf, threshold))
    if -ZERO_THRESHOLD <= threshold < 0.0:
        return float(np.nextafter(-ZERO_THRESHOLD, -np.inf))  # the band reads as 0 > threshold
    if 0.0 <= threshold < ZERO_THRESHOLD:
        return ZERO_THRESHOLD  # the band reads as 0 <= threshold
    return threshold


def _objective(text: str) -> str:
    """The probability link of a LightGBM objective string such as "binary sigmoid:1"."""
    name, *parameters = text.split(" ") if text else [""]
    settings = dict(part.split(":", 1) for part in parameters if ":" in part)
    if name in ("binary", "cross_entropy", "xentropy") and float(settings.get("sigmoid", 1)) == 1:
        return LOGISTIC
    if name in ("multiclass", "softmax"):
        return SOFTMAX
    return IDENTITY


def _parse_tree(info: dict, n_outputs: int, output: int, scale: float) -> Tree:
    nodes, left, right = flatten_nested(
        info["tree_structure"], "split_feature", "left_child", "right_child"
    )
    n = len(nodes)
    feature = np.full(n, -1, dtype=np.int64)
    threshold = np.zeros(n)
    decision = np.full(n, LEFT_IF_LESS_EQUAL, dtype=np.int8)
    missing = np.full(n, MISSING_NAN, dtype=np.int8)
    default_left = np.zeros(n, dtype=bool)
    cover = np.zeros(n)
    value = np.zeros((n, n_outputs))
    categories: list[np.ndarray | None] = [None] * n
    for position, node in enumerate(nodes):
        if "split_feature" not in node:
            if node.get("leaf_features"):
                raise TypeError(
                    "LightGBM models with linear trees (linear_tree=True) have linear models in "
                    "their leaves and are not tree ensembles shapwise can explain exactly"
                )
            value[position, output] = float(node["leaf_value"]) * scale
            cover[position] = float(node.get("leaf_count", 0))
            continue
        feature[position] = int(node["split_feature"])
        cover[position] = float(node["internal_count"])
        if node["decision_type"] == "==":
            decision[position] = LEFT_IF_IN_CATEGORIES
            categories[position] = np.array(
                [int(c) for c in str(node["threshold"]).split("||") if c != ""], dtype=np.int64
            )
            # NaN and negative categories go right in LightGBM
            missing[position] = MISSING_NAN
            default_left[position] = False
        elif node["decision_type"] == "<=":
            threshold[position] = _threshold_for_zero_band(float(node["threshold"]))
            missing[position] = _MISSING[str(node.get("missing_type", "None"))]
            default_left[position] = bool(node.get("default_left", False))
        else:
            raise TypeError(f"LightGBM decision type {node['decision_type']!r} is not supported")
    if n == 1:
        cover[0] = 1.0  # a tree of one leaf has no counts
    return Tree(
        left=left,
        right=right,
        feature=feature,
        threshold=threshold,
        decision=decision,
        missing=missing,
        default_left=default_left,
        cover=cover,
        value=value,
        categories=categories,
    )


def model_margin(model: Any, X: np.ndarray) -> np.ndarray:
    """LightGBM's own raw score (``raw_score=True``) on numeric rows, averaged in random-forest mode."""
    booster = booster_of(model)
    raw = booster.predict(np.asarray(X, dtype=np.float64), raw_score=True)
    dump = booster.dump_model()
    if dump.get("average_output", False):
        per_iteration = max(int(dump.get("num_tree_per_iteration", 1)), 1)
        raw = raw / max(len(dump["tree_info"]) // per_iteration, 1)
    return raw
