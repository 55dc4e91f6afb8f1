"""Least-squares gradient boosting of shallow trees on binary inputs (coalition masks).

Kernel's surrogate fits boosted trees to a few hundred coalitions, three times per explained row.
On binary inputs every split is "feature j in the coalition or not", so a tree level is found for
all its nodes at once from one small matrix product (per node and feature: the count and the
residual sum of the coalitions holding it). The split rule is the least-squares one, the largest
n_left n_right / n (mean_left - mean_right)^2, which is also scikit-learn's ``friedman_mse``, so the
ensemble is the one its GradientBoostingRegressor grows (squared loss, mean as the first guess,
no subsampling), up to ties between equally good splits, at a small fraction of the cost.
"""

from __future__ import annotations

import numpy as np

from shapwise.explainers._coalitions import masks_of_codes

try:  # the compiled trees (_binary_trees.c), built at install where a C compiler is present
    from shapwise.explainers import _binary_trees
except ImportError:  # pragma: no cover - the numpy path below grows the same trees
    _binary_trees = None

# A node whose best split lowers the squared error by no more than this share of the node's own
# sum of squares is left whole (a split of a constant node only moves rounding).
MIN_GAIN_SHARE = 1e-12
# Whether the compiled trees are used where they are built (False: the numpy path, for tests).
COMPILED = True


class BinaryBoosting:
    """Boosted trees of depth ``depth`` on boolean inputs (K, M), ``n_trees`` rounds with
    shrinkage ``learning_rate``.

    After a fit, ``splits`` (trees, 2^depth - 1) holds the feature each node splits on, level
    by level (node n of level l at 2^l - 1 + n; -1: none, its inputs go left), and ``leaves``
    (trees, 2^depth) the leaf values.
    """

    def __init__(self, n_trees: int = 100, depth: int = 3, learning_rate: float = 0.1) -> None:
        self.n_trees, self.depth, self.learning_rate = n_trees, depth, learning_rate
        self.start = 0.0
        self.splits = np.full((0, 2**depth - 1), -1, dtype=np.int64)
        self.leaves = np.zeros((0, 2**depth))

    def fit(self, inputs: np.ndarray, targets: np.ndarray) -> BinaryBoosting:
        """Fit to ``targets`` (K,) at the boolean ``inputs`` (K, M)."""
        design = np.ascontiguousarray(inputs, dtype=bool)
        targets = np.ascontiguousarray(targets, dtype=np.float64)
        # a second fit starts afresh
        self.splits = np.full((self.n_trees, 2**self.depth - 1), -1, dtype=np.int64)
        self.leaves = np.zeros((self.n_trees, 2**self.depth))
        if _binary_trees is not None and COMPILED:
            self.start = _binary_trees.fit(
                self.splits, self.leaves, design, targets, design.shape[1], self.depth,
                self.learning_rate, MIN_GAIN_SHARE,
            )  # fmt: skip
            return self
        ones = design.astype(np.float64)
        self.start = float(targets.mean())
        fitted = np.full(len(targets), self.start)
        for tree in range(self.n_trees):
            residuals = targets - fitted
            node = self._grow(design, ones, residuals, self.splits[tree])
            sums = np.bincount(node, weights=residuals, minlength=2**self.depth)
            counts = np.bincount(node, minlength=2**self.depth)
            self.leaves[tree] = self.learning_rate * sums / np.maximum(counts, 1)
            fitted += self.leaves[tree][node]
        return self

    def _grow(
        self, design: np.ndarray, ones: np.ndarray, residuals: np.ndarray, splits: np.ndarray
    ) -> np.ndarray:
        """One tree's splits, level by level, written into ``splits``; returns the leaf each
        input lands in."""
        n_rows, n_features = design.shape
        node = np.zeros(n_rows, dtype=np.int64)
        # per input: 1, r, r^2, then which features it holds, then r where it holds them; one
        # product with the node membership gives every node's sums at a level
        r = residuals[:, None]
        columns = np.hstack([np.ones((n_rows, 1)), r, r**2, ones, ones * r])
        for level in range(self.depth):
            n_nodes = 2**level
            member = (node[None, :] == np.arange(n_nodes)[:, None]).astype(np.float64)
            sums = member @ columns
            count, total, squares = sums[:, 0], sums[:, 1], sums[:, 2]
            count_in = sums[:, 3 : 3 + n_features]
            sum_in = sums[:, 3 + n_features :]
            count_out = count[:, None] - count_in
            sum_out = total[:, None] - sum_in
            with np.errstate(divide="ignore", invalid="ignore"):
                gain = sum_in**2 / count_in + sum_out**2 / count_out - (total**2 / count)[:, None]
            gain[(count_in == 0) | (count_out == 0)] = -np.inf
            best = np.argmax(gain, axis=1)
            best_gain = gain[np.arange(n_nodes), best]
            spread = squares - np.where(count > 0, total**2 / np.maximum(count, 1), 0.0)
            level_splits = np.where(best_gain > MIN_GAIN_SHARE * np.maximum(spread, 0.0), best, -1)
            splits[n_nodes - 1 : 2 * n_nodes - 1] = level_splits
            node = 2 * node + self._side(design, node, level_splits)
        return node

    @staticmethod
    def _side(design: np.ndarray, node: np.ndarray, splits: np.ndarray) -> np.ndarray:
        """0 or 1 per input: whether it holds its node's split feature (0 where none)."""
        feature = splits[node]
        held = design[np.arange(len(node)), np.maximum(feature, 0)]
        return (held & (feature >= 0)).astype(np.int64)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """The ensemble at boolean ``inputs`` (Q, M)."""
        design = np.ascontiguousarray(inputs, dtype=bool)
        if _binary_trees is not None and COMPILED:
            out = np.empty(len(design))
            _binary_trees.predict(
                out, design, self.splits, self.leaves, design.shape[1], self.depth, self.start
            )
            return out
        out = np.full(len(design), self.start)
        for splits, leaves in zip(self.splits, self.leaves, strict=True):
            node = np.zeros(len(design), dtype=np.int64)
            for level in range(self.depth):
                level_splits = splits[2**level - 1 : 2 ** (level + 1) - 1]
                node = 2 * node + self._side(design, node, level_splits)
            out += leaves[node]
        return out

    def shapley_values(self, n_features: int) -> np.ndarray:
        """The Shapley values (M,) of the game S -> ensemble(mask of S), in closed form.

        A leaf is reached by the coalitions that hold every feature of A (the right turns of
        its path) and none of B (the left turns), so its indicator is the game [A in S, B out
        of S]. A feature of A adds the leaf where it comes after the rest of A and before all
        of B, which a random order does with probability (a - 1)! b! / (a + b)!; a feature of
        B takes it away where it comes after all of A and before the rest of B, with
        probability a! (b - 1)! / (a + b)!. Leaves whose path needs a feature both held and
        not, or turns right at a node without a split, are never reached.
        """
        leaf = np.arange(2**self.depth)
        held = np.zeros((len(self.splits), len(leaf)), dtype=np.int64)  # A's bits
        missing = np.zeros_like(held)  # B's bits
        unreached = np.zeros(held.shape, dtype=bool)
        for level in range(self.depth):
            node = leaf >> (self.depth - level)
            right = ((leaf >> (self.depth - level - 1)) & 1).astype(bool)
            feature = self.splits[:, 2**level - 1 + node]  # (trees, leaves)
            split = feature >= 0
            unreached |= ~split & right
            bit = np.where(split, np.left_shift(1, np.maximum(feature, 0)), 0)
            held |= np.where(right, bit, 0)
            missing |= np.where(right, 0, bit)
        unreached |= (held & missing) != 0
        in_held = masks_of_codes(held, n_features).astype(np.float64)  # (trees * leaves, M)
        in_missing = masks_of_codes(missing, n_features).astype(np.float64)
        a, b = in_held.sum(axis=1).astype(np.intp), in_missing.sum(axis=1).astype(np.intp)
        factorial = np.cumprod(np.concatenate([[1.0], np.arange(1.0, 2 * self.depth + 1)]))
        to_held = factorial[np.maximum(a - 1, 0)] * factorial[b] / factorial[a + b]
        to_missing = factorial[a] * factorial[np.maximum(b - 1, 0)] / factorial[a + b]
        worth = np.where(unreached, 0.0, self.leaves).reshape(-1)
        return (worth * to_held) @ in_held - (worth * to_missing) @ in_missing
