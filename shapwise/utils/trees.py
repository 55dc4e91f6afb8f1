"""Feature hierarchies as shap's utilities build and walk them: a partition tree of the
features, random orders that respect it, the mask of every node, and a mask order with small
steps."""

from __future__ import annotations

from typing import Any

import numpy as np


def partition_tree(X: Any, metric: str = "correlation") -> np.ndarray:
    """A complete-linkage clustering (scipy linkage matrix) of the columns of ``X``; missing
    values count as their column's mean."""
    from scipy.cluster import hierarchy
    from scipy.spatial.distance import pdist

    data = np.asarray(X.values if hasattr(X, "iloc") else X, dtype=np.float64)
    filled = np.where(np.isnan(data), np.nanmean(data, axis=0), data)
    return hierarchy.complete(np.nan_to_num(pdist(filled.T, metric=metric), nan=1.0))


def _children(tree: np.ndarray, node: int, n_leaves: int) -> tuple[int, int]:
    row = tree[node - n_leaves]
    return int(row[0]), int(row[1])


def partition_tree_shuffle(
    indexes: np.ndarray, index_mask: np.ndarray, partition_tree: np.ndarray
) -> None:
    """Fill ``indexes`` (in place) with the features of ``index_mask`` in a random order in which
    the features of every node of the tree stay together (each node's two halves in a random
    order; numpy's global random state, as shap)."""
    n_leaves = len(index_mask)
    position = 0
    stack = [2 * n_leaves - 2 if n_leaves > 1 else 0]
    while stack:
        node = stack.pop()
        if node < n_leaves:
            if index_mask[node]:
                indexes[position] = node
                position += 1
            continue
        left, right = _children(partition_tree, node, n_leaves)
        first, second = (left, right) if np.random.randn() < 0 else (right, left)
        stack.extend([second, first])  # the first is taken next


def make_masks(cluster_matrix: np.ndarray) -> Any:
    """A sparse boolean matrix (2M - 1, M): row i < M holds leaf i, row M + k the leaves under
    node k of the linkage (left child's leaves first)."""
    import scipy.sparse

    n_leaves = len(cluster_matrix) + 1
    leaves: list[list[int]] = [[i] for i in range(n_leaves)]
    for row in cluster_matrix:
        leaves.append(leaves[int(row[0])] + leaves[int(row[1])])
    indptr = np.cumsum([0] + [len(members) for members in leaves])
    indices = np.concatenate([np.asarray(members, dtype=np.int64) for members in leaves])
    data = np.ones(len(indices), dtype=bool)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(2 * n_leaves - 1, n_leaves))


def delta_minimization_order(
    all_masks: np.ndarray, max_swap_size: int = 100, num_passes: int = 2
) -> np.ndarray:
    """An order of the masks in which neighbours differ in few features: windows of the order
    are reversed whenever that shortens the two edges around them (2-opt moves), for window
    lengths 2 .. max_swap_size - 1, ``num_passes`` times."""
    masks = np.asarray(all_masks, dtype=bool)
    order = np.arange(len(masks))

    def distance(a: int, b: int) -> int:
        return int(np.count_nonzero(masks[a] ^ masks[b]))

    for _ in range(num_passes):
        for length in range(2, max_swap_size):
            for start in range(1, len(order) - length):
                end = start + length
                before = distance(order[start - 1], order[start]) + distance(
                    order[end - 1], order[end]
                )
                after = distance(order[start - 1], order[end - 1]) + distance(
                    order[start], order[end]
                )
                if before - after > 0:
                    order[start:end] = order[start:end][::-1].copy()
    return order
