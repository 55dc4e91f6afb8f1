"""One node table for every tree library: what the parsers produce and the compiled core reads.

All trees of an ensemble are stored end to end in flat arrays; child indices are global positions in
those arrays. Indices are int64 and numbers float64 everywhere, so no index can wrap around and no
threshold loses precision. Each parser bakes its library's scaling (learning rate, averaging over
trees) into the leaf values, so the model's raw output (its margin) is

    margin(x)[o] = base_offset[o] + sum over trees t of leaf_value(t, x)[o]

where a tree with ``tree_output[t] == k >= 0`` adds only to output k (a boosting round of a
multiclass model) and one with ``tree_output[t] == -1`` adds its leaf vector to every output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# How a node sends a row left (``decision``):
LEFT_IF_LESS_EQUAL = 0  # x <= threshold goes left (scikit-learn, LightGBM, CatBoost)
LEFT_IF_LESS = 1  # x < threshold goes left (xgboost)
LEFT_IF_IN_CATEGORIES = 2  # int(x) in the node's category set goes left (categorical split)

# What counts as missing at a node (``missing``); a missing value follows ``default_left``:
MISSING_NAN = 0  # NaN is missing
MISSING_NAN_OR_ZERO = 1  # NaN and 0 are missing (LightGBM missing_type "Zero")
MISSING_AS_ZERO = 2  # NaN is read as 0.0 and compared as a number (LightGBM missing_type "None")

# The link from the margin to the model's probability output (``objective``):
IDENTITY, LOGISTIC, SOFTMAX = "identity", "logistic", "softmax"


@dataclass
class TreeEnsemble:
    """A parsed tree model. Arrays of length ``n_nodes`` unless said otherwise.

    Attributes:
        left, right: int64 child positions; -1 at a leaf.
        feature: int64 feature index of the split; -1 at a leaf.
        threshold: float64 split value (unused for categorical splits).
        decision: int8, one of LEFT_IF_LESS_EQUAL, LEFT_IF_LESS, LEFT_IF_IN_CATEGORIES.
        missing: int8, one of MISSING_NAN, MISSING_NAN_OR_ZERO, MISSING_AS_ZERO.
        default_left: bool, where a missing value goes.
        category_start, category_stop: int64 range of this node's words in ``category_words``
            (a bitset of any size: bit c of the concatenated uint64 words set means category c goes
            left; a category beyond the bitset, a negative or a non-integer value goes right).
        category_words: uint64 (total words,).
        cover: float64 training weight (or hessian sum) reaching each node; drives path-dependent
            values. Every internal node's cover is the sum of its children's.
        value: float64 (n_nodes, n_outputs) leaf values (zeros at internal nodes allowed).
        tree_start: int64 (n_trees + 1,) the first node of each tree (its root) and the end.
        tree_output: int64 (n_trees,) the output a tree adds to, or -1 for all outputs.
        base_offset: float64 (n_outputs,) added to the sum over trees.
        n_features: columns the model reads.
        objective: IDENTITY, LOGISTIC or SOFTMAX: how the margin becomes a probability.
        library, model_type: for messages ("xgboost", "XGBClassifier").
        feature_names: from the model where it stores them.
    """

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    decision: np.ndarray
    missing: np.ndarray
    default_left: np.ndarray
    category_start: np.ndarray
    category_stop: np.ndarray
    category_words: np.ndarray
    cover: np.ndarray
    value: np.ndarray
    tree_start: np.ndarray
    tree_output: np.ndarray
    base_offset: np.ndarray
    n_features: int
    objective: str = IDENTITY
    library: str = ""
    model_type: str = ""
    feature_names: list[str] | None = field(default=None)

    @property
    def n_nodes(self) -> int:
        return len(self.left)

    @property
    def n_trees(self) -> int:
        return len(self.tree_start) - 1

    @property
    def n_outputs(self) -> int:
        return self.value.shape[1]
