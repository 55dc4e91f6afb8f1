"""One node table for every tree library: what the parsers produce and the compiled core reads.

All trees of an ensemble are stored end to end in flat arrays; child indices are global positions in
those arrays. Indices are int64 and numbers float64 everywhere, so no index can wrap around and no
threshold loses precision. Each parser bakes its library's scaling (learning rate, averaging over
trees) into the leaf values, so the model's raw output (its margin) is

    margin(x)[o] = base_offset[o] + sum over trees t of leaf_value(t, x)[o]

where a tree with ``tree_output[t] == k >= 0`` adds only to output k (a boosting round of a
multiclass model; its leaf values sit in column k of ``value``, zeros elsewhere) and one with
``tree_output[t] == -1`` adds its leaf vector to every output.

Thresholds compare float64 inputs. Libraries that round inputs to float32 before comparing
(scikit-learn trees, xgboost, CatBoost, ONNX) get thresholds moved by
:func:`thresholds_for_float32_inputs`, so that a float64 comparison takes the branch the library
takes on the float32-rounded input, for every float64 input.

:func:`predict_margin` is the reference walk of this table (plain numpy, exact as documented);
:func:`check_against_model` compares it with a model's own output.
"""

from __future__ import annotations

from collections.abc import Sequence
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

# How an input value is read as a category at a categorical split (``category_rule``); a value
# that is not a category of the node's set (NaN aside, which is missing) goes right:
CATEGORY_EXACT = "exact"  # only the integers 0, 1, ...; 2.7 or -0.5 is in no set (scikit-learn,
# whose encoder turns values it never saw into missing ones before the trees)
CATEGORY_TRUNCATE = "truncate"  # int(x), toward zero: 2.7 is 2, -0.5 is 0, -1 is none (LightGBM)
CATEGORY_FLOAT32_TRUNCATE = "float32_truncate"  # x rounded to float32; negative: none; else
# int(x): 2.7 is 2, -0.5 is none (xgboost)
CATEGORY_RULES = (CATEGORY_EXACT, CATEGORY_TRUNCATE, CATEGORY_FLOAT32_TRUNCATE)
LARGEST_CATEGORY = 2.0**31  # libraries read categories as int32: larger values are in no set

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
        zero_threshold: inputs with ``|x| <= zero_threshold`` are read as 0.0 before any split
            (LightGBM reads ``|x| <= 1e-35`` as zero); 0.0, the default, leaves inputs as they are.
            Added after the first fields; numeric thresholds are also moved so that these inputs
            branch right without it, only zero-as-missing and categorical splits need it.
        has_covers: False when the model stores no training covers (ONNX): ``cover`` then
            counts each leaf once, so path-dependent values would not follow the training data
            and such a model should be explained with a background. Added with a default (True).
        category_rule: how the library reads an input value as a category, one of
            CATEGORY_RULES. :func:`read_inputs` applies it to the columns of categorical splits
            (a column split as a category is never split as a number: a library declares a
            feature categorical or numeric), so the walks compare integers only.
        oblivious: True when the parser built every tree as a complete binary tree in heap
            order (node k's children at 2k + 1 and 2k + 2 of its tree) whose nodes at one depth
            share one numeric split (CatBoost's oblivious trees). A hint only: the leaf tables of
            ``_oblivious.py`` check it on the arrays before they use it. Added with a default
            (False).
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
    zero_threshold: float = 0.0
    has_covers: bool = True
    category_rule: str = CATEGORY_EXACT
    oblivious: bool = False

    @property
    def n_nodes(self) -> int:
        return len(self.left)

    @property
    def n_trees(self) -> int:
        return len(self.tree_start) - 1

    @property
    def n_outputs(self) -> int:
        return self.value.shape[1]


@dataclass
class Tree:
    """One tree as a parser builds it: local child indices (-1 at a leaf), same fields as the table.

    ``categories[i]`` lists the categories that go left at a categorical node (None elsewhere).
    ``value`` is (n_nodes, n_outputs).
    """

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    decision: np.ndarray
    missing: np.ndarray
    default_left: np.ndarray
    cover: np.ndarray
    value: np.ndarray
    categories: list[np.ndarray | None] | None = None


def assemble(
    trees: Sequence[Tree],
    tree_output: Sequence[int],
    base_offset: np.ndarray,
    n_features: int,
    *,
    objective: str = IDENTITY,
    library: str = "",
    model_type: str = "",
    feature_names: list[str] | None = None,
) -> TreeEnsemble:
    """Store ``trees`` end to end in one :class:`TreeEnsemble` (child indices made global)."""
    sizes = np.array([len(tree.left) for tree in trees], dtype=np.int64)
    tree_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n_outputs = len(np.atleast_1d(base_offset))

    def joined(name: str, dtype: type) -> np.ndarray:
        if not trees:
            return np.zeros(0, dtype=dtype)
        return np.concatenate([np.asarray(getattr(tree, name), dtype=dtype) for tree in trees])

    left, right = joined("left", np.int64), joined("right", np.int64)
    offsets = np.repeat(tree_start[:-1], sizes)
    left = np.where(left >= 0, left + offsets, -1)
    right = np.where(right >= 0, right + offsets, -1)
    value = (
        np.concatenate(
            [np.asarray(t.value, dtype=np.float64).reshape(len(t.left), -1) for t in trees]
        )
        if trees
        else np.zeros((0, n_outputs))
    )
    if value.shape[1] != n_outputs:
        raise ValueError(f"leaf values have {value.shape[1]} columns, base_offset {n_outputs}")
    n_nodes = int(tree_start[-1])
    category_start = np.zeros(n_nodes, dtype=np.int64)
    category_stop = np.zeros(n_nodes, dtype=np.int64)
    words: list[np.ndarray] = []
    n_words = 0
    position = 0
    for tree in trees:
        for local, categories in enumerate(tree.categories or ()):
            if categories is None:
                continue
            bitset = category_bitset(categories)
            category_start[position + local] = n_words
            n_words += len(bitset)
            category_stop[position + local] = n_words
            words.append(bitset)
        position += len(tree.left)
    return TreeEnsemble(
        left=left,
        right=right,
        feature=joined("feature", np.int64),
        threshold=joined("threshold", np.float64),
        decision=joined("decision", np.int8),
        missing=joined("missing", np.int8),
        default_left=joined("default_left", bool),
        category_start=category_start,
        category_stop=category_stop,
        category_words=np.concatenate(words) if words else np.zeros(0, dtype=np.uint64),
        cover=joined("cover", np.float64),
        value=value,
        tree_start=tree_start,
        tree_output=np.asarray(tree_output, dtype=np.int64).reshape(len(trees)),
        base_offset=np.asarray(base_offset, dtype=np.float64).reshape(n_outputs),
        n_features=int(n_features),
        objective=objective,
        library=library,
        model_type=model_type,
        feature_names=feature_names,
    )


def flatten_nested(
    root: dict, is_split: str, left_key: str, right_key: str
) -> tuple[list[dict], np.ndarray, np.ndarray]:
    """A tree dumped as nested dicts (a split node holds ``is_split`` and its children under
    ``left_key`` / ``right_key``) as its nodes depth first, each left child right after its
    parent, with int64 child positions (-1 at a leaf)."""
    nodes: list[dict] = []
    children: list[list[int]] = []
    stack: list[tuple[dict, int, int]] = [(root, -1, 0)]
    while stack:
        node, parent, side = stack.pop()
        position = len(nodes)
        nodes.append(node)
        children.append([-1, -1])
        if parent >= 0:
            children[parent][side] = position
        if is_split in node:
            stack.append((node[right_key], position, 1))
            stack.append((node[left_key], position, 0))
    left = np.array([c[0] for c in children], dtype=np.int64)
    right = np.array([c[1] for c in children], dtype=np.int64)
    return nodes, left, right


def category_bitset(categories: Sequence[int] | np.ndarray) -> np.ndarray:
    """The uint64 words of a bitset with bit c set for every category c (non-negative ints)."""
    categories = np.asarray(categories, dtype=np.int64).reshape(-1)
    if len(categories) and categories.min() < 0:
        raise ValueError(f"categories must be non-negative integers, got {categories.min()}")
    n_words = int(categories.max()) // 64 + 1 if len(categories) else 1
    words = np.zeros(n_words, dtype=np.uint64)
    np.bitwise_or.at(
        words, categories // 64, np.left_shift(np.uint64(1), (categories % 64).astype(np.uint64))
    )
    return words


def thresholds_for_float32_inputs(
    threshold: np.ndarray, decision: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Thresholds for float64 inputs that branch as a library comparing float32-rounded inputs.

    A library that rounds an input x to float32 before comparing (``float32(x) <= t`` or
    ``float32(x) < t``) sends x left exactly when x is at most the midpoint between the largest
    float32 p that goes left and the next float32 (the midpoint itself rounds to whichever of the
    two has an even last bit). That midpoint is exact in float64, so the split becomes one
    LEFT_IF_LESS_EQUAL comparison in float64. Non-finite thresholds and categorical splits are
    returned as they were.
    """
    threshold = np.asarray(threshold, dtype=np.float64).copy()
    decision = np.asarray(decision, dtype=np.int8).copy()
    numeric = (decision != LEFT_IF_IN_CATEGORIES) & np.isfinite(threshold)
    numeric &= np.abs(threshold) <= np.finfo(np.float32).max
    with np.errstate(over="ignore"):  # float32's largest value has no finite neighbour above
        return _moved_thresholds(threshold, decision, numeric)


def _moved_thresholds(
    threshold: np.ndarray, decision: np.ndarray, numeric: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    t = threshold[numeric]
    # p: the largest float32 that goes left (<= t, or < t for a strict split)
    p = t.astype(np.float32)
    p = np.where(p.astype(np.float64) > t, np.nextafter(p, np.float32(-np.inf)), p)
    strict = decision[numeric] == LEFT_IF_LESS
    p = np.where(strict & (p.astype(np.float64) == t), np.nextafter(p, np.float32(-np.inf)), p)
    upper = np.nextafter(p, np.float32(np.inf)).astype(np.float64)
    lower = p.astype(np.float64)
    top = np.isinf(upper)  # p is float32's largest: the next one up would be 2**128
    upper[top] = lower[top] + (lower[top] - np.nextafter(p[top], np.float32(-np.inf)))
    midpoint = (lower + upper) / 2.0
    p_is_even = (p.view(np.uint32) & 1) == 0
    threshold[numeric] = np.where(p_is_even, midpoint, np.nextafter(midpoint, -np.inf))
    decision[numeric] = LEFT_IF_LESS_EQUAL
    return threshold, decision


def read_inputs(ensemble: TreeEnsemble, X: np.ndarray) -> np.ndarray:
    """The float64 rows as the library reads them before its splits (the rows given, when that
    changes nothing; else a new array, the caller's rows untouched).

    Values within ``zero_threshold`` of 0 become 0.0, and the columns of categorical splits
    become the category the library reads (``category_rule``): an integer, or -1.0 for a value in
    no category set; NaN stays missing. Each is a change of one column at a time, so Shapley
    values of the rows read this way are those of the rows given.
    """
    if ensemble.zero_threshold > 0:
        with np.errstate(invalid="ignore"):
            X = np.where(np.abs(X) <= ensemble.zero_threshold, 0.0, X)
    if ensemble.category_rule == CATEGORY_EXACT:
        return X
    if ensemble.category_rule not in CATEGORY_RULES:
        raise ValueError(
            f"category_rule must be one of {CATEGORY_RULES}; got {ensemble.category_rule!r}"
        )
    internal = ensemble.left >= 0
    categorical = internal & (ensemble.decision == LEFT_IF_IN_CATEGORIES)
    columns = np.unique(ensemble.feature[categorical])
    if len(columns) == 0:
        return X
    numeric_columns = np.unique(ensemble.feature[internal & ~categorical])
    both = np.intersect1d(columns, numeric_columns)
    if len(both):
        raise ValueError(
            f"the parsed {ensemble.library} {ensemble.model_type} splits feature {int(both[0])} "
            "both as a category and as a number; its categories cannot be read column by column"
        )
    X = np.array(X, dtype=np.float64, copy=True)
    values = X[:, columns]
    with np.errstate(invalid="ignore", over="ignore"):
        if ensemble.category_rule == CATEGORY_FLOAT32_TRUNCATE:
            values = values.astype(np.float32).astype(np.float64)
            category = np.where(values < 0, -1.0, np.trunc(values))
        else:
            category = np.trunc(values)
        category = np.where((category < 0) | (category >= LARGEST_CATEGORY), -1.0, category)
    X[:, columns] = category  # NaN stays NaN: comparisons with it are false
    return X


def predict_margin(ensemble: TreeEnsemble, X: np.ndarray) -> np.ndarray:
    """The margin (rows, n_outputs) in float64: every tree walked as the table says (reference)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != ensemble.n_features:
        raise ValueError(
            f"X must be 2-D with {ensemble.n_features} columns (the model's features); "
            f"got shape {X.shape}"
        )
    X = read_inputs(ensemble, X)
    n_rows, n_trees = len(X), ensemble.n_trees
    margin = np.tile(ensemble.base_offset, (n_rows, 1))
    if n_trees == 0 or n_rows == 0:
        return margin
    node = np.tile(ensemble.tree_start[:-1], (n_rows, 1))
    inside = ensemble.left[node] >= 0
    while inside.any():
        rows, trees = np.nonzero(inside)
        at = node[rows, trees]
        go_left = _goes_left(ensemble, at, X[rows, ensemble.feature[at]])
        after = np.where(go_left, ensemble.left[at], ensemble.right[at])
        node[rows, trees] = after
        inside[rows, trees] = ensemble.left[after] >= 0
    leaf_values = ensemble.value[node]  # (rows, trees, outputs)
    for_all = ensemble.tree_output < 0
    margin += leaf_values[:, for_all].sum(axis=1)
    for output in np.unique(ensemble.tree_output[~for_all]):
        margin[:, output] += leaf_values[:, ensemble.tree_output == output, output].sum(axis=1)
    return margin


def _goes_left(ensemble: TreeEnsemble, node: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Whether each (node, input value) pair goes to the left child."""
    missing_kind = ensemble.missing[node]
    x = np.where((missing_kind == MISSING_AS_ZERO) & np.isnan(x), 0.0, x)
    is_missing = np.isnan(x) | ((missing_kind == MISSING_NAN_OR_ZERO) & (x == 0.0))
    decision = ensemble.decision[node]
    threshold = ensemble.threshold[node]
    with np.errstate(invalid="ignore"):
        go_left = np.where(decision == LEFT_IF_LESS, x < threshold, x <= threshold)
    categorical = decision == LEFT_IF_IN_CATEGORIES
    if categorical.any():
        go_left[categorical] = _in_categories(ensemble, node[categorical], x[categorical])
    return np.where(is_missing, ensemble.default_left[node], go_left)


def _in_categories(ensemble: TreeEnsemble, node: np.ndarray, x: np.ndarray) -> np.ndarray:
    start, stop = ensemble.category_start[node], ensemble.category_stop[node]
    with np.errstate(invalid="ignore"):
        valid = (x >= 0) & (x < 64.0 * (stop - start)) & (x == np.floor(x))
    category = np.where(valid, x, 0.0).astype(np.int64)
    word = np.where(valid, start + category // 64, 0)
    words = (
        ensemble.category_words[word]
        if len(ensemble.category_words)
        else np.zeros(len(x), np.uint64)
    )
    bit = (words >> (category % 64).astype(np.uint64)) & np.uint64(1)
    return valid & (bit == 1)


def margin_tolerance(ensemble: TreeEnsemble, dtype: np.dtype | type = np.float64) -> float:
    """How far a library summing the trees in ``dtype`` may be from the exact margin.

    Each of the n additions rounds by at most eps times the largest partial sum, which is at most
    ``|base| + sum over trees of the tree's largest |leaf value|``.
    """
    eps = float(np.finfo(np.dtype(dtype)).eps)
    largest = np.abs(ensemble.value).max(axis=1) if ensemble.n_nodes else np.zeros(0)
    per_tree = (
        np.maximum.reduceat(largest, ensemble.tree_start[:-1]) if ensemble.n_trees else np.zeros(0)
    )
    bound = float(np.abs(ensemble.base_offset).max(initial=0.0) + per_tree.sum())
    return 2.0 * (ensemble.n_trees + 2) * eps * bound


def check_against_model(
    ensemble: TreeEnsemble, X_sample: np.ndarray, model_margin: np.ndarray
) -> None:
    """Raise a ValueError when the table does not reproduce the model's own margin on ``X_sample``.

    ``model_margin`` is the library's raw output on the rows (rows,) or (rows, n_outputs); its
    dtype sets the tolerance (float32 for libraries that add up trees in float32).
    """
    model_margin = np.asarray(model_margin)
    dtype = model_margin.dtype if model_margin.dtype.kind == "f" else np.dtype(np.float64)
    expected = model_margin.astype(np.float64).reshape(len(model_margin), -1)
    table = predict_margin(ensemble, X_sample)
    name = f"{ensemble.library} {ensemble.model_type}".strip()
    if expected.shape != table.shape:
        raise ValueError(
            f"the parsed {name} has {table.shape[1]} outputs but the model gave "
            f"{expected.shape[1]}; this model's layout is not supported yet"
        )
    tolerance = margin_tolerance(ensemble, dtype)
    difference = np.abs(table - expected)
    difference[np.isnan(difference) & ~(np.isnan(table) ^ np.isnan(expected))] = 0.0
    if not (difference <= tolerance).all():
        row, output = np.unravel_index(
            np.nanargmax(np.where(np.isnan(difference), np.inf, difference)), difference.shape
        )
        raise ValueError(
            f"the parsed {name} does not reproduce the model's own output: on row {row}, output "
            f"{output} the tree table gives {float(table[row, output])!r} and the model "
            f"{float(expected[row, output])!r} (tolerance {tolerance:.3g}). The model uses a feature of "
            f"its library that shapwise reads wrongly; please report it with the model."
        )
