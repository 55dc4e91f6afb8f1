"""scikit-learn tree models into the node table.

Read from the fitted attributes only; scikit-learn is imported only where its private helpers are
needed, inside the functions.

- Decision trees, random forests and extra trees: regressors give their prediction (one output per
  target), classifiers their class probabilities (each tree's leaf proportions, averaged).
- GradientBoosting: the decision function (the log-odds for a binary classifier, one score per
  class for a multiclass one), starting from its constant ``init`` prediction.
- HistGradientBoosting: the raw prediction (``_raw_predict``), with ``missing_go_to_left`` and
  categorical bitsets. Unknown and negative categories go where missing values go, as in
  scikit-learn.
- IsolationForest: the mean path length over trees, E[h(x)], as shap defines the model's output:
  ``score_samples(x) == -2 ** (-E[h(x)] / c(max_samples))``, with c the average path length of an
  unsuccessful search in a binary search tree. A leaf's path length is its depth plus c(samples at
  the leaf).

Classic scikit-learn trees compare float32-rounded inputs with float64 thresholds; their
thresholds are moved so float64 inputs branch the same (see ``thresholds_for_float32_inputs``).
HistGradientBoosting compares in float64.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._table import (
    IDENTITY,
    LEFT_IF_IN_CATEGORIES,
    LEFT_IF_LESS_EQUAL,
    LOGISTIC,
    MISSING_NAN,
    SOFTMAX,
    Tree,
    TreeEnsemble,
    assemble,
    thresholds_for_float32_inputs,
)

FORESTS = (
    "DecisionTreeRegressor",
    "DecisionTreeClassifier",
    "ExtraTreeRegressor",
    "ExtraTreeClassifier",
    "RandomForestRegressor",
    "RandomForestClassifier",
    "ExtraTreesRegressor",
    "ExtraTreesClassifier",
)
BOOSTING = ("GradientBoostingRegressor", "GradientBoostingClassifier")
HIST_BOOSTING = ("HistGradientBoostingRegressor", "HistGradientBoostingClassifier")
SUPPORTED = (*FORESTS, *BOOSTING, *HIST_BOOSTING, "IsolationForest")


def parse_sklearn(model: Any) -> TreeEnsemble:
    """The node table of a fitted scikit-learn tree model (see the module docstring)."""
    name = type(model).__name__
    if not hasattr(model, "n_features_in_"):
        raise ValueError(f"the scikit-learn {name} is not fitted; call fit before explaining it")
    if name in FORESTS:
        return _parse_forest(model, name)
    if name in BOOSTING:
        return _parse_boosting(model, name)
    if name in HIST_BOOSTING:
        return _parse_hist_boosting(model, name)
    if name == "IsolationForest":
        return _parse_isolation_forest(model)
    raise TypeError(f"scikit-learn {name} is not a supported tree model; supported: {SUPPORTED}")


def model_margin(model: Any, X: np.ndarray) -> np.ndarray:
    """The model's own output that the parsed table reproduces (for the construction check)."""
    with warnings.catch_warnings():
        # a model fitted on a DataFrame warns about rows without column names; these are numeric
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        return _model_output(model, np.asarray(X, dtype=np.float64))


def _model_output(model: Any, X: np.ndarray) -> np.ndarray:
    name = type(model).__name__
    if name in FORESTS:
        if hasattr(model, "predict_proba"):
            return model.predict_proba(X)
        return model.predict(X)
    if name == "GradientBoostingClassifier":
        return model.decision_function(X)
    if name == "GradientBoostingRegressor":
        return model.predict(X)
    if name in HIST_BOOSTING:
        return model._raw_predict(X)
    if name == "IsolationForest":
        return -np.log2(-model.score_samples(X)) * average_path_length(model._max_samples)
    raise TypeError(f"scikit-learn {name} is not a supported tree model")


def average_path_length(n_samples: float) -> float:
    """c(n): the average path length of an unsuccessful search among n samples (Liu et al.)."""
    if n_samples <= 1:
        return 0.0
    if n_samples == 2:
        return 1.0
    return 2.0 * (np.log(n_samples - 1.0) + np.euler_gamma) - 2.0 * (n_samples - 1.0) / n_samples


def _feature_names(model: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(name) for name in names]


def _from_sklearn_tree(tree: Any, value: np.ndarray, features: np.ndarray | None = None) -> Tree:
    """One ``sklearn.tree._tree.Tree`` with the given leaf values (n_nodes, n_outputs)."""
    left = tree.children_left.astype(np.int64)
    is_leaf = left < 0
    feature = tree.feature.astype(np.int64)
    if features is not None:
        feature = np.where(
            is_leaf, -1, np.asarray(features, dtype=np.int64)[np.maximum(feature, 0)]
        )
    feature[is_leaf] = -1
    decision = np.full(len(left), LEFT_IF_LESS_EQUAL, dtype=np.int8)
    # sklearn rounds inputs to float32 before comparing with its float64 thresholds
    threshold, decision = thresholds_for_float32_inputs(tree.threshold, decision)
    threshold[is_leaf] = 0.0
    missing_go_to_left = getattr(tree, "missing_go_to_left", None)
    if missing_go_to_left is None:  # older scikit-learn: NaN <= t is false, so NaN goes right
        missing_go_to_left = np.zeros(len(left), dtype=bool)
    return Tree(
        left=left,
        right=tree.children_right.astype(np.int64),
        feature=feature,
        threshold=threshold,
        decision=decision,
        missing=np.full(len(left), MISSING_NAN, dtype=np.int8),
        default_left=np.asarray(missing_go_to_left, dtype=bool) & ~is_leaf,
        cover=tree.weighted_n_node_samples.astype(np.float64),
        value=np.where(is_leaf[:, None], value, 0.0),
    )


def _parse_forest(model: Any, name: str) -> TreeEnsemble:
    estimators = getattr(model, "estimators_", None) or [model]
    is_classifier = hasattr(model, "classes_")
    if is_classifier and getattr(model, "n_outputs_", 1) != 1:
        raise TypeError(f"scikit-learn {name} with several targets (multi-output) is not supported")
    trees = []
    for estimator in estimators:
        tree = estimator.tree_
        if is_classifier:
            counts = tree.value[:, 0, :].astype(np.float64)
            # scikit-learn >= 1.4 stores proportions, older versions counts: normalise either way
            value = counts / counts.sum(axis=1, keepdims=True)
        else:
            value = tree.value[:, :, 0].astype(np.float64)
        trees.append(_from_sklearn_tree(tree, value / len(estimators)))
    n_outputs = trees[0].value.shape[1]
    return assemble(
        trees,
        tree_output=[-1] * len(trees),
        base_offset=np.zeros(n_outputs),
        n_features=model.n_features_in_,
        objective=IDENTITY,
        library="sklearn",
        model_type=name,
        feature_names=_feature_names(model),
    )


def _parse_boosting(model: Any, name: str) -> TreeEnsemble:
    init = model.init_
    if not (init == "zero" or type(init).__name__ in ("DummyRegressor", "DummyClassifier")):
        raise TypeError(
            f"scikit-learn {name} with init={type(init).__name__} starts from a model that is not "
            "a tree ensemble; only init=None (the default constant) or 'zero' can be explained"
        )
    stages = model.estimators_  # (n_stages, n_outputs) of DecisionTreeRegressor
    n_outputs = stages.shape[1]
    if init == "zero":
        base = np.zeros(n_outputs)
    else:
        base = np.asarray(model._raw_predict_init(np.zeros((1, model.n_features_in_))), float)[0]
    trees, tree_output = [], []
    for stage in stages:
        for output, estimator in enumerate(stage):
            leaf = estimator.tree_.value[:, 0, :1].astype(np.float64) * model.learning_rate
            value = np.zeros((len(leaf), n_outputs))
            value[:, output] = leaf[:, 0]
            trees.append(_from_sklearn_tree(estimator.tree_, value))
            tree_output.append(output if n_outputs > 1 else -1)
    is_classifier = hasattr(model, "classes_")
    objective = (LOGISTIC if n_outputs == 1 else SOFTMAX) if is_classifier else IDENTITY
    return assemble(
        trees,
        tree_output=tree_output,
        base_offset=base,
        n_features=model.n_features_in_,
        objective=objective,
        library="sklearn",
        model_type=name,
        feature_names=_feature_names(model),
    )


def _parse_hist_boosting(model: Any, name: str) -> TreeEnsemble:
    columns, raw_categories = _hist_columns(model, name)
    baseline = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
    n_outputs = len(baseline)
    trees, tree_output = [], []
    for iteration in model._predictors:
        for output, predictor in enumerate(iteration):
            tree = _from_hist_predictor(predictor, output, n_outputs, columns, raw_categories)
            trees.append(tree)
            tree_output.append(output if n_outputs > 1 else -1)
    is_classifier = hasattr(model, "classes_")
    objective = (LOGISTIC if n_outputs == 1 else SOFTMAX) if is_classifier else IDENTITY
    return assemble(
        trees,
        tree_output=tree_output,
        base_offset=baseline,
        n_features=model.n_features_in_,
        objective=objective,
        library="sklearn",
        model_type=name,
        feature_names=_feature_names(model),
    )


def _hist_columns(model: Any, name: str) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """For each column the trees read: the input column and, if categorical, its categories.

    A model with categorical features encodes them first (an ordinal encoder that puts the
    categorical columns first and turns unknown categories into NaN); the trees see codes, the
    table reads the input's own category values.
    """
    n_features = model.n_features_in_
    preprocessor = getattr(model, "_preprocessor", None)
    if preprocessor is None:
        return np.arange(n_features), [None] * n_features
    is_categorical = np.asarray(model.is_categorical_, dtype=bool)
    columns = np.concatenate([np.flatnonzero(is_categorical), np.flatnonzero(~is_categorical)])
    encoder = preprocessor.named_transformers_["encoder"]
    raw_categories: list[np.ndarray | None] = [None] * n_features
    for position, categories in enumerate(encoder.categories_):
        values = np.asarray(categories)
        if values.dtype.kind == "f" and len(values) and np.isnan(values[-1]):
            values = values[:-1]
        numeric = values.dtype.kind in "iuf"
        if not numeric or (values < 0).any() or (values != np.floor(values)).any():
            column = columns[position]
            raise TypeError(
                f"scikit-learn {name}: categorical column {column} has categories that are not "
                f"non-negative integers ({values[:5].tolist()}...); encode them as integer codes "
                "before fitting to explain the model"
            )
        raw_categories[position] = values.astype(np.int64)
    return columns, raw_categories


def _bitset_categories(bitset_row: np.ndarray) -> np.ndarray:
    """The categories whose bits are set in one row of scikit-learn's uint32 bitsets."""
    bits = np.unpackbits(np.asarray(bitset_row, dtype="<u4").view(np.uint8), bitorder="little")
    return np.flatnonzero(bits)


def _from_hist_predictor(
    predictor: Any,
    output: int,
    n_outputs: int,
    columns: np.ndarray,
    raw_categories: list[np.ndarray | None],
) -> Tree:
    nodes = predictor.nodes
    is_leaf = nodes["is_leaf"].astype(bool)
    left = np.where(is_leaf, -1, nodes["left"].astype(np.int64))
    right = np.where(is_leaf, -1, nodes["right"].astype(np.int64))
    default_left = nodes["missing_go_to_left"].astype(bool) & ~is_leaf
    decision = np.full(len(nodes), LEFT_IF_LESS_EQUAL, dtype=np.int8)
    categories: list[np.ndarray | None] = [None] * len(nodes)
    is_categorical = nodes["is_categorical"].astype(bool) & ~is_leaf
    for node in np.flatnonzero(is_categorical):
        codes = _bitset_categories(predictor.raw_left_cat_bitsets[nodes["bitset_idx"][node]])
        known = raw_categories[nodes["feature_idx"][node]]
        if known is None:
            raise TypeError(
                "scikit-learn HistGradientBoosting: categorical split without categories"
            )
        goes_left = known[codes[codes < len(known)]]
        decision[node] = LEFT_IF_IN_CATEGORIES
        if default_left[node]:
            # unknown categories follow missing values to the left: an unbounded set, so the
            # children swap and the table's (finite) left set is the known categories going right
            categories[node] = np.setdiff1d(known, goes_left)
            left[node], right[node] = right[node], left[node]
            default_left[node] = False
        else:
            categories[node] = goes_left
    value = np.zeros((len(nodes), n_outputs))
    value[:, output] = np.where(is_leaf, nodes["value"], 0.0)
    return Tree(
        left=left,
        right=right,
        feature=np.where(is_leaf, -1, columns[nodes["feature_idx"].astype(np.int64)]),
        threshold=np.where(is_leaf | is_categorical, 0.0, nodes["num_threshold"]),
        decision=decision,
        missing=np.full(len(nodes), MISSING_NAN, dtype=np.int8),
        default_left=default_left,
        cover=_consistent_cover(left, right, nodes["count"]),
        value=value,
        categories=categories,
    )


def _consistent_cover(left: np.ndarray, right: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Covers with every internal node's the sum of its children's (leaves kept as given)."""
    cover = cover.astype(np.float64).copy()
    order = _children_first(left, right)
    for node in order:
        if left[node] >= 0:
            cover[node] = cover[left[node]] + cover[right[node]]
    return cover


def _children_first(left: np.ndarray, right: np.ndarray) -> list[int]:
    """Nodes ordered so that every node comes after its children."""
    order, stack = [], [0]
    while stack:
        node = stack.pop()
        order.append(node)
        if left[node] >= 0:
            stack.extend((int(left[node]), int(right[node])))
    return order[::-1]


def _parse_isolation_forest(model: Any) -> TreeEnsemble:
    n_estimators = len(model.estimators_)
    subsample = model._max_features != model.n_features_in_
    path_lengths = getattr(model, "_decision_path_lengths", None)
    leaf_lengths = getattr(model, "_average_path_length_per_tree", None)
    trees = []
    for index, (estimator, features) in enumerate(
        zip(model.estimators_, model.estimators_features_, strict=True)
    ):
        tree = estimator.tree_
        if path_lengths is not None and leaf_lengths is not None:
            length = path_lengths[index] + leaf_lengths[index] - 1.0
        else:
            depth = _depths(tree.children_left, tree.children_right)
            length = depth + np.array([average_path_length(n) for n in tree.n_node_samples])
        value = (np.asarray(length, dtype=np.float64) / n_estimators)[:, None]
        trees.append(_from_sklearn_tree(tree, value, features if subsample else None))
    return assemble(
        trees,
        tree_output=[-1] * len(trees),
        base_offset=np.zeros(1),
        n_features=model.n_features_in_,
        objective=IDENTITY,
        library="sklearn",
        model_type="IsolationForest",
        feature_names=_feature_names(model),
    )


def _depths(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    depth = np.zeros(len(left))
    for node in _children_first(left, right)[::-1]:
        if left[node] >= 0:
            depth[left[node]] = depth[right[node]] = depth[node] + 1
    return depth
