"""Path-dependent Tree SHAP of oblivious trees from per-leaf tables.

In an oblivious tree every node at one depth has the same split, so the leaf a row reaches fixes
the row's decision at every node of the tree, and the tree's path-dependent values depend on the
row only through that leaf. Each leaf some row reaches is explained once, from one row that
reaches it (the compiled walk of that single tree), and a row's values are the sum over trees of
its leaves' rows of the table: d comparisons and a table lookup per tree instead of a walk of
2^(d + 1) - 1 nodes.

The table pays when rows outnumber leaves (:func:`leaf_tables_pay`); the structure is read and
checked from the node table itself (:func:`oblivious_levels`), never assumed from the parser.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _core_calls as core
from ._table import LEFT_IF_LESS, LEFT_IF_LESS_EQUAL, MISSING_NAN, TreeEnsemble, read_inputs

TABLE_BYTES = 2**28  # the most the leaf tables may take; beyond, every tree is walked
SLOT_CHUNK = 2**22  # (row, tree) leaf slots held at once


@dataclass(frozen=True)
class ObliviousLevels:
    """The one split of each depth of each tree; arrays (trees, depth), depth 0 at the root.

    A tree shallower than ``depth`` has zero ``weight`` at its missing depths.

    Attributes:
        feature: int64 column split at each depth.
        threshold: float64 split value.
        strict: bool, x < threshold goes left (else x <= threshold).
        default_left: bool, where NaN goes.
        weight: int64, the bit of the leaf's index a right turn at this depth sets
            (2^(tree depth - 1 - depth)): a row's leaf is the sum of its right turns' weights.
        leaf_start: int64 (trees + 1,), the first table slot of each tree's leaves.
    """

    feature: np.ndarray
    threshold: np.ndarray
    strict: np.ndarray
    default_left: np.ndarray
    weight: np.ndarray
    leaf_start: np.ndarray

    @property
    def n_leaves(self) -> int:
        return int(self.leaf_start[-1])


def oblivious_levels(ensemble: TreeEnsemble) -> ObliviousLevels | None:
    """The levels of an ensemble marked ``oblivious`` whose arrays show it: every tree complete
    in heap order, every depth one numeric split with NaN as the only missing value. None for
    any other ensemble (the general walk explains it)."""
    if not ensemble.oblivious or ensemble.n_trees == 0:
        return None
    sizes = np.diff(ensemble.tree_start)
    depths = np.round(np.log2(sizes + 1)).astype(np.int64) - 1
    if (depths < 0).any() or ((2 ** (depths + 1) - 1) != sizes).any():
        return None
    n_trees, deepest = ensemble.n_trees, int(depths.max())
    shape = (n_trees, max(deepest, 1))
    feature = np.zeros(shape, dtype=np.int64)
    threshold = np.zeros(shape)
    strict = np.zeros(shape, dtype=bool)
    default_left = np.zeros(shape, dtype=bool)
    weight = np.zeros(shape, dtype=np.int64)
    for depth in np.unique(depths):
        trees = np.flatnonzero(depths == depth)
        level = _levels_of_size(ensemble, trees, int(depth))
        if level is None:
            return None
        at = np.ix_(trees, np.arange(depth))
        feature[at], threshold[at], strict[at], default_left[at] = level
        weight[at] = 2 ** (depth - 1 - np.arange(depth))
    leaf_start = np.concatenate([[0], np.cumsum(2**depths)]).astype(np.int64)
    return ObliviousLevels(feature, threshold, strict, default_left, weight, leaf_start)


def _levels_of_size(
    ensemble: TreeEnsemble, trees: np.ndarray, depth: int
) -> tuple[np.ndarray, ...] | None:
    """(feature, threshold, strict, default_left), each (len(trees), depth), of trees of one
    depth, or None where one of them is not oblivious."""
    e = ensemble
    n_nodes = 2 ** (depth + 1) - 1
    n_internal = 2**depth - 1
    nodes = e.tree_start[trees][:, None] + np.arange(n_nodes)[None, :]  # (trees, nodes)
    local = np.arange(n_internal)
    internal, leaves = nodes[:, :n_internal], nodes[:, n_internal:]
    roots = e.tree_start[trees][:, None]
    if not (
        (e.left[internal] - roots == 2 * local + 1).all()
        and (e.right[internal] - roots == 2 * local + 2).all()
        and (e.left[leaves] < 0).all()
    ):
        return None
    if n_internal and not (
        np.isin(e.decision[internal], (LEFT_IF_LESS_EQUAL, LEFT_IF_LESS)).all()
        and (e.missing[internal] == MISSING_NAN).all()
    ):
        return None
    level_of = np.floor(np.log2(local + 1)).astype(np.int64)
    first = 2 ** np.arange(depth) - 1  # the first node of each depth
    split = []
    for name in ("feature", "threshold", "decision", "default_left"):
        array = getattr(e, name)[internal]
        at_first = array[:, first]
        if not (array == at_first[:, level_of]).all():  # a NaN threshold fails too: walked
            return None
        split.append(at_first)
    feature, threshold, decision, default_left = split
    if (feature < 0).any() or (feature >= e.n_features).any():
        return None
    return feature, threshold, decision == LEFT_IF_LESS, default_left.astype(bool)


def tree_features(levels: ObliviousLevels) -> np.ndarray:
    """Each tree's distinct split features (trees, depth), sorted; -1 fills the rest."""
    features = np.sort(np.where(levels.weight > 0, levels.feature, -1), axis=1)
    repeated = np.zeros(features.shape, dtype=bool)
    repeated[:, 1:] = features[:, 1:] == features[:, :-1]
    return np.where(repeated, -1, features)


def _table_width(levels: ObliviousLevels, n_outputs: int, interactions: bool) -> int:
    depth = levels.feature.shape[1]
    return depth * (depth if interactions else 1) * n_outputs


def leaf_tables_pay(
    n_rows: int, ensemble: TreeEnsemble, levels: ObliviousLevels, interactions: bool = False
) -> bool:
    """Whether the leaf tables beat walking every tree for every row.

    When the rows are at least twice the mean leaves per tree, at most half of the (row, tree)
    walks are made (one per leaf reached), and the lookups that replace the others cost far less
    than a walk. The tables (leaves x depth [x depth] x outputs float64: a tree's values are
    zero but at its own split features) must also fit in ``TABLE_BYTES``.
    """
    n_trees = len(levels.leaf_start) - 1
    width = _table_width(levels, ensemble.n_outputs, interactions)
    return (
        n_trees > 0
        and n_rows * n_trees >= 2 * levels.n_leaves
        and 8 * levels.n_leaves * width <= TABLE_BYTES
    )


def path_dependent(
    ensemble: TreeEnsemble,
    levels: ObliviousLevels,
    X: np.ndarray,
    *,
    interactions: bool = False,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Path-dependent values (rows, features, outputs), or pair interactions (rows, features,
    features, outputs), from leaf tables: those of :func:`_core_calls.path_dependent`, each
    row's trees added in the same order.

    Rows are taken in chunks; a chunk's leaves not yet in the table are explained first, each
    from the first row of the chunk that reaches it. A leaf's row of the table keeps the values
    of its tree's own features only (``tree_features``), each added at its place in a row.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    read = np.ascontiguousarray(read_inputs(ensemble, X), dtype=np.float64)
    n_rows, n_trees = len(X), ensemble.n_trees
    n_features, n_outputs = ensemble.n_features, ensemble.n_outputs
    cell = (n_features, n_features) if interactions else (n_features,)
    features = tree_features(levels)
    targets = _targets(features, n_features, n_outputs, interactions)
    tree_of_slot = np.repeat(np.arange(n_trees, dtype=np.int64), np.diff(levels.leaf_start))
    table = np.zeros((levels.n_leaves, targets.shape[1]))
    explained = np.zeros(levels.n_leaves, dtype=bool)
    out = np.zeros((n_rows, int(np.prod(cell)) * n_outputs))
    chunk = max(1, SLOT_CHUNK // n_trees)
    batch = max(1, TABLE_BYTES // 8 // (8 * out.shape[1]))  # leaves walked at once
    for start in range(0, n_rows, chunk):
        part = slice(start, start + chunk)
        slots, reaching = core.oblivious_leaves(levels, read[part], n_jobs=n_jobs)
        new = np.flatnonzero((reaching >= 0) & ~explained)
        for first in range(0, len(new), batch):
            leaves = new[first : first + batch]
            values = np.zeros((len(leaves), out.shape[1]))
            core.path_dependent_trees(
                ensemble,
                X[part],
                tree_of_slot[leaves],
                reaching[leaves],
                values,
                interactions=interactions,
                n_jobs=n_jobs,
            )
            own = np.maximum(features[tree_of_slot[leaves]], 0)  # (leaves, depth)
            values = values.reshape(len(leaves), *cell, n_outputs)
            at = np.arange(len(leaves))[:, None]
            if interactions:
                values = values[at[:, :, None], own[:, :, None], own[:, None, :]]
            else:
                values = values[at, own]
            table[leaves] = values.reshape(len(leaves), -1)
        explained[new] = True
        core.add_table_rows(table, slots, targets, out[part], n_jobs=n_jobs)
    return out.reshape(n_rows, *cell, n_outputs)


def _targets(
    features: np.ndarray, n_features: int, n_outputs: int, interactions: bool
) -> np.ndarray:
    """Where each entry of a tree's compact table row goes in a row of values (trees, width);
    -1 for the padding."""
    output = np.arange(n_outputs)
    if interactions:
        i, j = features[:, :, None, None], features[:, None, :, None]
        place = np.where((i >= 0) & (j >= 0), (i * n_features + j) * n_outputs + output, -1)
    else:
        i = features[:, :, None]
        place = np.where(i >= 0, i * n_outputs + output, -1)
    return place.reshape(len(features), -1).astype(np.int64)
