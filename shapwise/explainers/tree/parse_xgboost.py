"""xgboost (2.x and 3.x) models into the node table, read from the booster's JSON model.

- ``base_score`` is read as xgboost writes it: a number ("5E-1") or a vector ("[1.2E0,3E-1]"), one
  per output, and turned into a margin by the objective's link (logit for ``binary:logistic`` and
  ``reg:logistic``, log for ``count:poisson``, ``reg:gamma``, ``reg:tweedie`` and the survival
  objectives, the vector as it is for multiclass models in 3.x).
- ``tree_info`` says which output each tree adds to; dart's tree weights are baked into the
  leaves. A scikit-learn wrapper that stopped early keeps its trees up to ``best_iteration``
  (as its ``predict`` does); a raw ``Booster`` keeps all of them (as ``Booster.predict`` does).
- xgboost rounds inputs to float32 and sends x left when ``float32(x) < split``; thresholds are
  moved so float64 inputs branch the same (see ``thresholds_for_float32_inputs``).
- Categorical splits list the categories that go right; everything else (unknown, negative) goes
  left. xgboost reads a value as the category int(float32(x)) when float32(x) >= 0 (2.7 as 2;
  -0.5 is no category: the table's ``category_rule`` "float32_truncate"). The table keeps the listed set and swaps the children. Categorical features are read as
  the codes xgboost saw in training (pandas category codes). Covers are ``sum_hessian``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ._table import (
    CATEGORY_FLOAT32_TRUNCATE,
    IDENTITY,
    LEFT_IF_IN_CATEGORIES,
    LEFT_IF_LESS,
    LOGISTIC,
    MISSING_NAN,
    SOFTMAX,
    Tree,
    TreeEnsemble,
    assemble,
    thresholds_for_float32_inputs,
)

_LOGIT = ("binary:logistic", "reg:logistic")  # binary:logitraw keeps base_score as a margin
_LOG = ("count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft")


def booster_of(model: Any) -> Any:
    """The ``xgboost.Booster`` of a scikit-learn wrapper, or the booster itself."""
    return model.get_booster() if hasattr(model, "get_booster") else model


def iteration_limit(model: Any) -> int | None:
    """How many boosting rounds the model's own ``predict`` uses (None: all of them)."""
    if hasattr(model, "get_booster"):
        try:
            best = model.best_iteration
        except AttributeError:
            return None
        return None if best is None else int(best) + 1
    return None


def parse_xgboost(model: Any) -> TreeEnsemble:
    """The node table of an xgboost model (a scikit-learn wrapper or a ``Booster``)."""
    booster = booster_of(model)
    document = json.loads(bytes(booster.save_raw(raw_format="json")))
    return parse_xgboost_json(
        document,
        model_type=type(model).__name__,
        n_iterations=iteration_limit(model),
    )


def parse_xgboost_json(
    document: dict, model_type: str = "Booster", n_iterations: int | None = None
) -> TreeEnsemble:
    """The node table of an xgboost JSON model document (``save_raw("json")``, ``.json`` file)."""
    learner = document["learner"]
    parameters = learner["learner_model_param"]
    objective_name = learner["objective"]["name"]
    n_outputs = max(int(parameters.get("num_class", "0")), int(parameters.get("num_target", "1")))
    n_outputs = max(n_outputs, 1)
    booster = learner["gradient_booster"]
    kind = booster["name"]
    if kind == "gbtree":
        model, weights = booster["model"], None
    elif kind == "dart":
        model, weights = booster["gbtree"]["model"], booster["weight_drop"]
    else:
        raise TypeError(
            f"xgboost booster {kind!r} has no trees; only gbtree and dart models can be explained"
        )
    trees_json = model["trees"]
    tree_info = list(model["tree_info"])
    if n_iterations is not None:
        indptr = model.get("iteration_indptr")
        if indptr is None:
            per_round = int(model["gbtree_model_param"].get("num_parallel_tree", "1")) * n_outputs
            stop = n_iterations * per_round
        else:
            stop = int(indptr[min(n_iterations, len(indptr) - 1)])
        trees_json, tree_info = trees_json[:stop], tree_info[:stop]
    trees = [
        _parse_tree(tree, n_outputs, tree_info[i], 1.0 if weights is None else float(weights[i]))
        for i, tree in enumerate(trees_json)
    ]
    tree_output = [-1] * len(trees) if n_outputs == 1 else [int(output) for output in tree_info]
    base = _base_margin(parameters["base_score"], objective_name, n_outputs)
    if objective_name in ("binary:logistic", "reg:logistic", "binary:logitraw"):
        objective = LOGISTIC
    elif objective_name in ("multi:softprob", "multi:softmax"):
        objective = SOFTMAX
    else:
        objective = IDENTITY
    names = learner.get("feature_names") or None
    ensemble = assemble(
        trees,
        tree_output=tree_output,
        base_offset=base,
        n_features=int(parameters["num_feature"]),
        objective=objective,
        library="xgboost",
        model_type=model_type,
        feature_names=list(names) if names else None,
    )
    ensemble.category_rule = CATEGORY_FLOAT32_TRUNCATE  # xgboost reads int(float32(x)), x >= 0
    return ensemble


def _base_margin(text: str, objective_name: str, n_outputs: int) -> np.ndarray:
    """``base_score`` ("5E-1", "[5E-1]", "[1.2E0,3E-1]") as a margin per output."""
    numbers = [float(part) for part in str(text).strip().strip("[]").split(",") if part.strip()]
    base = np.asarray(numbers, dtype=np.float64)
    if len(base) == 1:
        base = np.repeat(base, n_outputs)
    if len(base) != n_outputs:
        raise ValueError(
            f"xgboost base_score {text!r} has {len(base)} values for a model with {n_outputs} outputs"
        )
    # xgboost keeps base_score in float32
    base = base.astype(np.float32).astype(np.float64)
    if objective_name in _LOGIT:
        return np.log(base) - np.log1p(-base)
    if objective_name in _LOG:
        return np.log(base)
    return base


def _parse_tree(tree: dict, n_outputs: int, output: int, weight: float) -> Tree:
    size_leaf = int(tree["tree_param"].get("size_leaf_vector", "1"))
    if size_leaf > 1:
        raise TypeError(
            "xgboost models with vector leaves (multi_strategy='multi_output_tree') are not "
            "supported; train with the default multi_strategy='one_output_per_tree'"
        )
    left = np.asarray(tree["left_children"], dtype=np.int64)
    right = np.asarray(tree["right_children"], dtype=np.int64)
    is_leaf = left < 0
    right = np.where(is_leaf, -1, right)
    split = np.asarray(tree["split_conditions"], dtype=np.float32).astype(np.float64)
    feature = np.where(is_leaf, -1, np.asarray(tree["split_indices"], dtype=np.int64))
    default_left = np.asarray(tree["default_left"], dtype=bool) & ~is_leaf
    decision = np.full(len(left), LEFT_IF_LESS, dtype=np.int8)
    split_type = np.asarray(tree.get("split_type", [0] * len(left)), dtype=np.int64)
    categories: list[np.ndarray | None] = [None] * len(left)
    all_categories = np.asarray(tree.get("categories", []), dtype=np.int64)
    segments = tree.get("categories_segments", [])
    sizes = tree.get("categories_sizes", [])
    for node, start, size in zip(tree.get("categories_nodes", []), segments, sizes, strict=True):
        # the listed categories go right: keep them as the table's left set, swap the children
        categories[node] = all_categories[start : start + size]
        left[node], right[node] = right[node], left[node]
        default_left[node] = not default_left[node]
    categorical = split_type == 1
    missing_lists = categorical & ~is_leaf & np.array([c is None for c in categories])
    if missing_lists.any():
        raise ValueError("xgboost JSON model has a categorical split without its category list")
    decision[categorical & ~is_leaf] = LEFT_IF_IN_CATEGORIES
    threshold, decision = thresholds_for_float32_inputs(np.where(is_leaf, 0.0, split), decision)
    threshold[categorical | is_leaf] = 0.0
    value = np.zeros((len(left), n_outputs))
    value[:, output if n_outputs > 1 else 0] = np.where(is_leaf, split, 0.0) * weight
    return Tree(
        left=left,
        right=right,
        feature=feature,
        threshold=threshold,
        decision=decision,
        missing=np.full(len(left), MISSING_NAN, dtype=np.int8),
        default_left=default_left,
        cover=np.asarray(tree["sum_hessian"], dtype=np.float64),
        value=value,
        categories=categories,
    )


def model_margin(model: Any, X: np.ndarray) -> np.ndarray:
    """xgboost's own margin (``output_margin=True``) on numeric rows (categories as codes)."""
    import xgboost

    booster = booster_of(model)
    n_iterations = iteration_limit(model)
    matrix = xgboost.DMatrix(
        np.asarray(X, dtype=np.float64),
        missing=np.nan,
        feature_names=booster.feature_names,
        feature_types=booster.feature_types,
        enable_categorical=True,
    )
    iteration_range = (0, n_iterations) if n_iterations is not None else (0, 0)
    return booster.predict(matrix, output_margin=True, iteration_range=iteration_range)
