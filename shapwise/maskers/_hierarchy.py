"""A binary feature hierarchy (a scipy linkage matrix) laid out so that every node is a range of leaves.

Ordering the leaves as a depth-first walk of the tree puts the leaves of any node next to each other:
node ``n`` covers positions ``start[n] : start[n] + size[n]``. A coalition built from whole nodes is
then a few slice assignments, and spreading a value evenly over a node's leaves is a difference array.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.maskers.tabular import check_linkage


def check_tree(clustering: Any, n_features: int) -> np.ndarray:
    """A linkage matrix (any float dtype) as float64, checked to be a binary tree over the features.

    Raises:
        ValueError: the shape is wrong, a node id is out of range or a node is joined twice.
    """
    matrix = check_linkage(clustering, n_features)
    children = matrix[:, :2]
    if np.any(children != np.round(children)):
        raise ValueError("the first two columns of the clustering must hold integer node ids")
    ids = children.astype(np.int64)
    limit = n_features + np.arange(len(ids))[:, None]
    if np.any(ids < 0) or np.any(ids >= limit):
        raise ValueError(
            "the clustering is not a valid linkage matrix: row k may only join leaves "
            f"(0..{n_features - 1}) and clusters made by earlier rows"
        )
    if len(np.unique(ids)) != ids.size:
        raise ValueError("the clustering is not a tree: a node is joined more than once")
    return matrix


class Hierarchy:
    """A binary tree over ``n_features`` leaves from a linkage matrix.

    Attributes:
        n_leaves: number of features; leaves are nodes ``0..n_leaves-1``, row k makes node n_leaves+k.
        root: id of the root node.
        left / right: children of internal node ``n_leaves + k`` at index k.
        start / size: each node covers leaf positions ``start[n] : start[n] + size[n]``.
        position: the position of each feature in the depth-first leaf order.
        depth: distance of each node from the root.
    """

    def __init__(self, clustering: Any, n_features: int) -> None:
        matrix = check_tree(clustering, n_features)
        n = int(n_features)
        self.n_leaves = n
        self.root = 2 * n - 2
        self.left = matrix[:, 0].astype(np.int64)
        self.right = matrix[:, 1].astype(np.int64)
        size = np.ones(2 * n - 1, dtype=np.int64)
        for k in range(n - 1):
            size[n + k] = size[self.left[k]] + size[self.right[k]]
        start = np.zeros(2 * n - 1, dtype=np.int64)
        depth = np.zeros(2 * n - 1, dtype=np.int64)
        for k in range(n - 2, -1, -1):
            node, left, right = n + k, self.left[k], self.right[k]
            start[left] = start[node]
            start[right] = start[node] + size[left]
            depth[left] = depth[right] = depth[node] + 1
        self.size = size
        self.start = start
        self.depth = depth
        self.position = start[:n].copy()

    def owen_evaluations(self) -> int:
        """Coalitions needed for exact Owen values: 2 per internal node per context, plus the ends.

        An internal node at depth d is met in 2^d contexts (each ancestor's sibling in or out).
        """
        internal_depths = self.depth[self.n_leaves :]
        return 2 + sum(2 * 2 ** int(d) for d in internal_depths)

    def node_masks(self, contexts: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """``contexts`` (K, n_leaves, in leaf positions) with the leaves of ``nodes`` (K,) added."""
        positions = np.arange(self.n_leaves)
        first = self.start[nodes][:, None]
        inside = (positions >= first) & (positions < first + self.size[nodes][:, None])
        return contexts | inside

    def spread(self, node_values: np.ndarray) -> np.ndarray:
        """Spread each node's value evenly over its leaves: (2n-1, O) -> (n, O) in feature order.

        Slice by slice rather than by a cumulative sum, so a leaf outside every valued node stays
        exactly zero (a running sum would leave rounding residue there).
        """
        n = self.n_leaves
        by_position = np.zeros((n, node_values.shape[1]), dtype=np.float64)
        by_position[self.position] = node_values[:n]
        for node in n + np.flatnonzero(np.any(node_values[n:] != 0, axis=1)):
            first = self.start[node]
            by_position[first : first + self.size[node]] += node_values[node] / self.size[node]
        return by_position[self.position]
