"""Independent truth for tests: Shapley and Owen values computed straight from their definitions.

Deliberately slow and simple: subsets are enumerated with itertools, weights with factorials, and
no code is shared with the package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain, combinations, product
from math import factorial

import numpy as np

Game = Callable[[frozenset], np.ndarray]


def subsets(items: Sequence[int]):
    items = list(items)
    return chain.from_iterable(combinations(items, r) for r in range(len(items) + 1))


def shapley_values(game: Game, n_players: int) -> np.ndarray:
    """phi_i = sum over S not containing i of |S|!(n-|S|-1)!/n! (v(S+i) - v(S))."""
    values = []
    for i in range(n_players):
        others = [j for j in range(n_players) if j != i]
        total = 0.0
        for coalition in subsets(others):
            s = len(coalition)
            weight = factorial(s) * factorial(n_players - s - 1) / factorial(n_players)
            total = total + weight * (game(frozenset(coalition) | {i}) - game(frozenset(coalition)))
        values.append(total)
    return np.array(values, dtype=np.float64)


def leaves(node) -> list[int]:
    return [node] if isinstance(node, int) else [leaf for child in node for leaf in leaves(child)]


def owen_values(game: Game, tree) -> np.ndarray:
    """Owen values for a nested-list hierarchy, e.g. [[0, 1], [2, [3, 4]]].

    At every level on the path from the root to player i, the siblings of the branch holding i act
    as players of a Shapley game: each subset R of them joins whole, with weight
    |R|!(c-|R|-1)!/c! for c children. The weights multiply across levels.
    """
    n_players = len(leaves(tree))
    values = np.zeros(n_players, dtype=object)
    for i in range(n_players):
        levels = []  # for each ancestor: list of (weight, leaves that join)
        node = tree
        while not isinstance(node, int):
            branch = next(c for c in node if i in leaves(c))
            siblings = [c for c in node if c is not branch]
            count = len(node)
            options = []
            for chosen in subsets(range(len(siblings))):
                r = len(chosen)
                weight = factorial(r) * factorial(count - r - 1) / factorial(count)
                joined = [leaf for k in chosen for leaf in leaves(siblings[k])]
                options.append((weight, joined))
            levels.append(options)
            node = branch
        total = 0.0
        for combo in product(*levels):
            weight = np.prod([w for w, _ in combo])
            coalition = frozenset(leaf for _, joined in combo for leaf in joined)
            total = total + weight * (game(coalition | {i}) - game(coalition))
        values[i] = total
    return np.array(list(values), dtype=np.float64)


def linkage_to_tree(linkage: np.ndarray):
    """A scipy linkage matrix as nested lists of leaf indices (binary)."""
    n = len(linkage) + 1
    nodes: dict[int, object] = {i: i for i in range(n)}
    for k, row in enumerate(linkage):
        nodes[n + k] = [nodes[int(row[0])], nodes[int(row[1])]]
    return nodes[2 * n - 2]


def masked_game(model: Callable, x: np.ndarray, background: np.ndarray, link=None) -> Game:
    """v(S): the mean model output over background rows with the features in S taken from x."""

    def game(coalition: frozenset) -> np.ndarray:
        rows = background.copy()
        idx = list(coalition)
        rows[:, idx] = x[idx]
        out = np.asarray(model(rows), dtype=np.float64).mean(axis=0)
        return out if link is None else link(out)

    return game
