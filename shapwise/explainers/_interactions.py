"""Exact pairwise interaction values from a full table of coalition values (shap's convention).

shap 0.51's ``ExactExplainer(...)(X, interactions=True)`` returns, per row, an (M, M) matrix of
order-2 Shapley-Taylor interaction values: the diagonal holds each feature's main effect
v({i}) - v(empty), and each pair's interaction

    I_jk = (2 / M) * sum_{T subset of N - {j, k}} D_jk(T) / C(M - 1, |T|),
    D_jk(T) = v(T + j + k) - v(T + j) - v(T + k) + v(T),

is split equally between [j, k] and [k, j]. The matrix sums to v(full) - v(empty).
"""

from __future__ import annotations

from collections.abc import Callable
from math import comb
from typing import TYPE_CHECKING, Any

import numpy as np

from shapwise.explainers._coalitions import all_coalitions

if TYPE_CHECKING:
    from shapwise.explainers._game import CoalitionGame


def interactions_from_table(table: np.ndarray, n_features: int) -> np.ndarray:
    """(M, M, n_outputs) interaction values from v(S) of every subset (indexed by bit pattern)."""
    n = n_features
    table = np.asarray(table, dtype=np.float64)
    table = table - table[0]
    codes = np.arange(2**n, dtype=np.int64)
    values = np.zeros((n, n, table.shape[1]))
    for i in range(n):
        values[i, i] = table[1 << i]
    if n < 2:
        return values
    # half of 2 / (M C(M-1, t)) for each size t of T, split between [j, k] and [k, j]
    weight = np.array([1.0 / (n * comb(n - 1, t)) for t in range(n - 1)])
    sizes = all_coalitions(n).sum(axis=1)
    for j in range(n):
        for k in range(j + 1, n):
            pair = (1 << j) | (1 << k)
            lacking = codes[(codes & pair) == 0]  # every T without j and k
            delta = (
                table[lacking | pair]
                - table[lacking | (1 << j)]
                - table[lacking | (1 << k)]
                + table[lacking]
            )
            values[j, k] = values[k, j] = weight[sizes[lacking]] @ delta
    return values


def exact_interactions(
    game: CoalitionGame, done: Callable[[int], Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interaction values of every row of ``game``: (values (rows, M, M, O), v(empty), v(full))."""
    n = game.n_features
    coalitions = all_coalitions(n)
    parts = []
    for rows in game.row_groups(len(coalitions)):
        masks = np.broadcast_to(coalitions, (len(rows), *coalitions.shape))
        tables = game.tables(rows, masks, empty_at=0)  # (2^n, rows, O)
        # every row's outputs side by side: one pass over the pairs for the whole group
        flat = interactions_from_table(tables.reshape(len(coalitions), -1), n)
        values = flat.reshape(n, n, len(rows), -1).transpose(2, 0, 1, 3)  # (rows, M, M, O)
        parts.append((values, tables[0], tables[-1]))
        done(len(rows))
    return tuple(np.concatenate(part) for part in zip(*parts, strict=True))  # type: ignore[return-value]
