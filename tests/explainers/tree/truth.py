"""Brute-force Tree SHAP references from the definitions, over all coalitions (small problems only).

Independent of any fast algorithm:

- :func:`path_dependent_game`: v(S) = E[f(x) | x_S], the cover-weighted conditional expectation
  walked over the node table: a node splitting on a feature in S follows x, one splitting on a
  feature outside S averages its children weighted by their covers.
- :func:`interventional_game`: v(S) = mean over background rows b of the model's own output on the
  constructed row (x_S, b_rest); the model is called on every constructed row.
- :func:`probability_game`: the interventional game of the model's probability,
  E_b[sigmoid(margin(x_S, b_rest))] (or softmax for several outputs).
- :func:`shapley_values` and :func:`interaction_values` turn a game (its value on every
  coalition) into Shapley values and shap's pairwise interaction matrix: off-diagonal entries
  are half the Shapley interaction index, phi_ij = phi_ji = SII_ij / 2, and the diagonal is
  phi_i - sum_{j != i} phi_ij, so every row of the matrix sums to phi_i.

A game is an array (2**n_features, n_outputs): entry ``c`` is v(S) for the coalition whose bit i
is set when feature i is in S.
"""

from __future__ import annotations

from collections.abc import Callable
from math import factorial

import numpy as np

from shapwise.explainers.tree._table import TreeEnsemble, _goes_left


def coalition_masks(n_features: int) -> np.ndarray:
    """(2**n, n) bool: row c has feature i in the coalition when bit i of c is set."""
    codes = np.arange(2**n_features)
    return ((codes[:, None] >> np.arange(n_features)) & 1).astype(bool)


def path_dependent_game(ensemble: TreeEnsemble, x: np.ndarray) -> np.ndarray:
    """v(S) = E[f(x) | x_S] for every coalition S, from covers (2**n_features, n_outputs)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    masks = coalition_masks(ensemble.n_features)
    game = np.tile(ensemble.base_offset, (len(masks), 1))
    for tree in range(ensemble.n_trees):
        root = int(ensemble.tree_start[tree])
        expected = _expected_below(ensemble, root, x, masks)
        output = ensemble.tree_output[tree]
        if output < 0:
            game += expected
        else:
            game[:, output] += expected[:, output]
    return game


def _expected_below(
    ensemble: TreeEnsemble, node: int, x: np.ndarray, masks: np.ndarray
) -> np.ndarray:
    """E[leaf value below ``node`` | x_S] for every coalition (2**n, n_outputs)."""
    left, right = int(ensemble.left[node]), int(ensemble.right[node])
    if left < 0:
        return np.tile(ensemble.value[node], (len(masks), 1))
    feature = int(ensemble.feature[node])
    below_left = _expected_below(ensemble, left, x, masks)
    below_right = _expected_below(ensemble, right, x, masks)
    goes_left = bool(_goes_left(ensemble, np.array([node]), np.array([x[feature]]))[0])
    cover_left, cover_right = ensemble.cover[left], ensemble.cover[right]
    total = cover_left + cover_right
    weight_left = cover_left / total if total > 0 else 0.5
    averaged = weight_left * below_left + (1.0 - weight_left) * below_right
    followed = below_left if goes_left else below_right
    return np.where(masks[:, feature][:, None], followed, averaged)


def interventional_game(
    predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, background: np.ndarray
) -> np.ndarray:
    """v(S) = mean_b predict(x_S, b_rest), calling ``predict`` on every constructed row."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    background = np.asarray(background, dtype=np.float64)
    masks = coalition_masks(len(x))
    constructed = np.where(masks[:, None, :], x[None, None, :], background[None, :, :])
    flat = constructed.reshape(-1, len(x))
    outputs = np.asarray(predict(flat), dtype=np.float64).reshape(len(flat), -1)
    return outputs.reshape(len(masks), len(background), -1).mean(axis=1)


def probability_game(
    margin: Callable[[np.ndarray], np.ndarray], x: np.ndarray, background: np.ndarray
) -> np.ndarray:
    """v(S) = E_b[sigmoid(margin(x_S, b_rest))]; softmax over outputs when there are several."""

    def probability(rows: np.ndarray) -> np.ndarray:
        scores = np.asarray(margin(rows), dtype=np.float64).reshape(len(rows), -1)
        if scores.shape[1] == 1:
            return 1.0 / (1.0 + np.exp(-scores))
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    return interventional_game(probability, x, background)


def shapley_values(game: np.ndarray) -> np.ndarray:
    """Shapley values (n_features, n_outputs) of a game given on every coalition."""
    n = int(np.log2(len(game)))
    masks = coalition_masks(n)
    sizes = masks.sum(axis=1)
    values = np.zeros((n, game.shape[1]))
    for i in range(n):
        without = np.flatnonzero(~masks[:, i])
        size = sizes[without]
        weight = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in size])
        values[i] = weight @ (game[without | (1 << i)] - game[without])
    return values


def interaction_values(game: np.ndarray) -> np.ndarray:
    """shap's pairwise interaction matrix (n_features, n_features, n_outputs) of a game."""
    n = int(np.log2(len(game)))
    masks = coalition_masks(n)
    sizes = masks.sum(axis=1)
    matrix = np.zeros((n, n, game.shape[1]))
    for i in range(n):
        for j in range(i + 1, n):
            without = np.flatnonzero(~masks[:, i] & ~masks[:, j])
            weight = np.array(
                [factorial(s) * factorial(n - s - 2) / factorial(n - 1) for s in sizes[without]]
            )
            both, only_i, only_j = (
                without | (1 << i) | (1 << j),
                without | (1 << i),
                without | (1 << j),
            )
            index = weight @ (game[both] - game[only_i] - game[only_j] + game[without])
            matrix[i, j] = matrix[j, i] = index / 2.0
    phi = shapley_values(game)
    for i in range(n):
        matrix[i, i] = phi[i] - (matrix[i].sum(axis=0) - matrix[i, i])
    return matrix


def path_dependent_values(ensemble: TreeEnsemble, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Path-dependent Shapley values (rows, n_features, n_outputs) and base values (rows, outputs)."""
    games = [path_dependent_game(ensemble, x) for x in np.asarray(X, dtype=np.float64)]
    return np.stack([shapley_values(g) for g in games]), np.stack([g[0] for g in games])


def interventional_values(
    predict: Callable[[np.ndarray], np.ndarray], X: np.ndarray, background: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Interventional Shapley values (rows, n_features, n_outputs) and base values (rows, outputs)."""
    games = [interventional_game(predict, x, background) for x in np.asarray(X, dtype=np.float64)]
    return np.stack([shapley_values(g) for g in games]), np.stack([g[0] for g in games])
