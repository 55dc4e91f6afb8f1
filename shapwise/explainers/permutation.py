"""Permutation sampling of Shapley values with antithetic, position-balanced permutations.

Each permutation walks from the empty to the full coalition; the value gained when a feature joins is
one sample of its marginal contribution, and the samples of one permutation add up exactly to
v(full) - v(empty), so every estimate is additive. Three things cut the variance at a given budget:
- every permutation comes with its reverse (antithetic pairs);
- pairs come in blocks built from cyclic shifts of one random order, so across a block each feature
  appears at every position equally often (stratified by position);
- a coalition is evaluated once however many permutations pass through it, and the budget counts
  distinct coalitions, so the small and large coalitions that many permutations share cost once and
  more permutations fit in ``max_evals``.
"""

from __future__ import annotations

import numpy as np

from shapwise.explainers._base import ExplainerBase
from shapwise.explainers._game import CoalitionGame
from shapwise.explainers.exact import all_coalitions, shapley_from_table


def _chain_keys(order: np.ndarray) -> list[bytes]:
    """Keys of the interior coalitions visited when features join in ``order``."""
    mask = np.zeros(len(order), dtype=bool)
    keys = []
    for feature in order[:-1]:
        mask[feature] = True
        keys.append(np.packbits(mask).tobytes())
    return keys


def _balanced_orders(n_features: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A block of permutations and their reverses in which each feature takes every position."""
    base = rng.permutation(n_features)
    orders = []
    for shift in range(n_features):
        order = np.roll(base, shift)
        orders.extend([order, order[::-1]])
    return orders


def plan_permutations(n_features: int, max_evals: int, rng: np.random.Generator) -> np.ndarray:
    """Antithetic, position-balanced permutations whose coalitions fit in ``max_evals`` evaluations.

    The empty and full coalitions count as two evaluations; at least one antithetic pair is planned.
    """
    seen: set[bytes] = set()
    chosen: list[np.ndarray] = []
    budget = max_evals - 2
    while len(chosen) < 100 * max_evals:
        block = _balanced_orders(n_features, rng)
        for start in range(0, len(block), 2):
            pair = block[start : start + 2]
            new = {key for order in pair for key in _chain_keys(order)} - seen
            if chosen and len(seen) + len(new) > budget:
                return np.array(chosen)
            seen |= new
            chosen.extend(pair)
    return np.array(chosen)


def _chain_masks(orders: np.ndarray) -> np.ndarray:
    """Masks of every prefix of every order: (n_orders, n_features + 1, n_features)."""
    n_orders, n_features = orders.shape
    position = np.empty_like(orders)
    position[np.arange(n_orders)[:, None], orders] = np.arange(n_features)
    steps = np.arange(n_features + 1)
    return position[:, None, :] < steps[None, :, None]


class PermutationExplainer(ExplainerBase):
    """Shapley values estimated from antithetic, position-balanced permutations.

    Exact when ``max_evals`` covers all 2^M coalitions; always additive.
    """

    algorithm = "permutation"

    def default_max_evals(self, n_features: int) -> int:
        return 500

    def explain_row(
        self, game: CoalitionGame, max_evals: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = game.n_features
        if n <= 30 and 2**n <= max_evals:
            table = game.values(all_coalitions(n))
            return shapley_from_table(table, n), table[0], table[-1]
        orders = plan_permutations(n, max_evals, rng)
        masks = _chain_masks(orders)
        flat = masks.reshape(-1, n)
        unique, inverse = np.unique(np.packbits(flat, axis=1), axis=0, return_inverse=True)
        unique_masks = np.unpackbits(unique, axis=1, count=n).astype(bool)
        table = game.values(unique_masks)
        chain = table[inverse.reshape(-1)].reshape(len(orders), n + 1, -1)
        gains = np.diff(chain, axis=1)
        values = np.zeros((n, table.shape[1]), dtype=np.float64)
        np.add.at(values, orders.reshape(-1), gains.reshape(-1, table.shape[1]))
        values /= len(orders)
        return values, chain[0, 0], chain[0, -1]


Permutation = PermutationExplainer
