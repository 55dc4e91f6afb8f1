"""The Owen values of one row over a binary feature hierarchy, refined where they matter most
within a budget of coalitions (the Partition explainer's estimator; with every term expanded,
exact Owen values, as the Exact explainer gives over a Partition masker).

For a binary tree the Owen value has a simple recursion. A *term* is a node N met in a context C (a
union of whole nodes outside N) with a weight w; it stands for w * (v(C + N) - v(C)). Expanding it
into the children L and R costs two coalitions, v(C + L) and v(C + R), and gives four terms of weight
w/2: L in C, R in C + L, R in C and L in C + R. Their contributions add up to the parent's exactly,
so the values are additive at every budget. Expanding every term down to the leaves gives exact Owen
values (the root term is the whole game with weight 1).

With a smaller budget the terms with the largest |contribution| are expanded first (as shap does); a
term left unexpanded keeps its contribution on its node, spread evenly over the node's leaves. Each
round expands a batch of terms and evaluates all their coalitions in one call of the game. No
coalition is evaluated twice: a coalition C + L determines its term (N is the smallest node that it
cuts, and C is what it holds outside N), so no cache is needed.

Half precision: a model computing in float16 or bfloat16 rounds its output to a grid of spacing about
eps * |output|, so a measured difference below that spacing is indistinguishable from zero. When a
term is expanded, its difference d is split between its two halves (in each order: first half, then
the second half given the first). If one half's share is within the resolution and the other's is not,
the small share is reported as zero: that half is not refined further in that context, and the share
(smaller than the resolution) is kept on its sibling, so the values still add up exactly. Nothing
changes for float32/float64 models.
"""

from __future__ import annotations

import heapq

import numpy as np

from shapwise.explainers._game import RowGame
from shapwise.links import Link
from shapwise.maskers._hierarchy import Hierarchy
from shapwise.numeric import epsilon

# With a partial budget, each round expands at most this share of it (the rest waits for the
# priorities the round reveals); rounds are never smaller than MIN_ROUND_TERMS terms.
ROUND_SHARE = 1 / 16
MIN_ROUND_TERMS = 16


def output_resolution(ends: np.ndarray, link: Link, precision: str | None) -> np.ndarray:
    """The smallest output difference a model computing in ``precision`` can resolve, per output.

    ``ends`` holds v(empty) and v(full) (2, O) in link space. Zero for float32/float64 models.
    """
    eps = epsilon(precision or "float64")
    if eps <= epsilon("float32"):
        return np.zeros(ends.shape[1])
    raw = link.inverse(ends)
    try:
        spacing = np.abs(ends - link(raw - eps * raw))
    except ValueError:
        spacing = eps * np.abs(ends)
    return spacing.max(axis=0)


def coarsest_precision(*names: str | None) -> str | None:
    known = [n for n in names if n]
    return max(known, key=epsilon) if known else None


class _Terms:
    """The frontier of unexpanded terms: a priority queue plus the arrays each term carries."""

    def __init__(self) -> None:
        self.queue: list[tuple[float, int]] = []
        self.items: dict[
            int, tuple[int, np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]
        ] = {}
        self.count = 0

    def push(
        self,
        priority: float,
        node: int,
        context: np.ndarray,
        low: np.ndarray,
        high: np.ndarray,
        weight: float,
        live: np.ndarray,
    ) -> None:
        self.items[self.count] = (node, context, low, high, weight, live)
        heapq.heappush(self.queue, (-priority, self.count))
        self.count += 1

    def pop(
        self, n: int
    ) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray, float, np.ndarray]]:
        taken = [heapq.heappop(self.queue)[1] for _ in range(min(n, len(self.queue)))]
        return [self.items.pop(key) for key in taken]

    def __len__(self) -> int:
        return len(self.queue)


def owen_estimate(
    game: RowGame, tree: Hierarchy, max_evals: int, link: Link, precision: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Owen values (M, O), v(empty) and v(full) of one row over ``tree`` within ``max_evals``
    (exact where it covers ``tree.owen_evaluations()``); ``precision``: the model's coarsest
    float type, whose resolution differences below are taken as zero (see the module's text)."""
    n = tree.n_leaves
    ends = game.values(np.stack([np.zeros(n, dtype=bool), np.ones(n, dtype=bool)]))
    empty_value, full_value = ends
    n_outputs = ends.shape[1]
    node_values = np.zeros((2 * n - 1, n_outputs), dtype=np.float64)
    if n == 1:
        return (full_value - empty_value)[None], empty_value, full_value

    focus = np.arange(n_outputs) if game.outputs is None else np.asarray(game.outputs)
    if focus.size and focus.max() >= n_outputs:
        raise ValueError(f"outputs must be between 0 and {n_outputs - 1}; got {focus.tolist()}")
    resolution = output_resolution(ends, link, precision)

    terms = _Terms()
    everything = np.ones(n_outputs, dtype=bool)
    terms.push(np.inf, tree.root, np.zeros(n, dtype=bool), empty_value, full_value, 1.0, everything)
    exact = tree.owen_evaluations() <= max_evals
    round_terms = max(MIN_ROUND_TERMS, int(max_evals * ROUND_SHARE))
    remaining = max_evals - 2
    while len(terms) and remaining >= 2:
        size = len(terms) if exact else min(round_terms, remaining // 2)
        batch = terms.pop(size)
        remaining -= 2 * len(batch)
        _expand(batch, tree, game, node_values, terms, resolution, focus)
    for node, _, low, high, weight, live in terms.pop(len(terms)):
        node_values[node] += weight * (high - low) * live
    return tree.spread(node_values), empty_value, full_value


def _expand(
    batch: list,
    tree: Hierarchy,
    game: RowGame,
    node_values: np.ndarray,
    terms: _Terms,
    resolution: np.ndarray,
    focus: np.ndarray,
) -> None:
    """Evaluate the two new coalitions of every term in ``batch`` at once and push the children."""
    n = tree.n_leaves
    nodes = np.array([t[0] for t in batch])
    contexts = np.stack([t[1] for t in batch])
    low = np.stack([t[2] for t in batch])
    high = np.stack([t[3] for t in batch])
    weights = np.array([t[4] for t in batch])[:, None]
    live = np.stack([t[5] for t in batch])
    left, right = tree.left[nodes - n], tree.right[nodes - n]
    with_left = tree.node_masks(contexts, left)
    with_right = tree.node_masks(contexts, right)
    coalitions = np.concatenate([with_left, with_right])[:, tree.position]
    evaluated = game.values(coalitions)
    value_left, value_right = evaluated[: len(batch)], evaluated[len(batch) :]
    half = weights / 2
    # Two orders in which the halves join; in each the two shares add up to high - low.
    orders = (
        ((left, contexts, low, value_left), (right, with_left, value_left, high)),
        ((right, contexts, low, value_right), (left, with_right, value_right, high)),
    )
    for first, second in orders:
        shares = [end - start for _, _, start, end in (first, second)]
        small = [(np.abs(s) <= resolution) & (resolution > 0) for s in shares]
        dropped = [small[0] & ~small[1], small[1] & ~small[0]]
        for me, other in ((0, 1), (1, 0)):
            child, context, start, end = (first, second)[me]
            child_live = live & ~dropped[me]
            moved = half * shares[me] * (live & dropped[me])
            np.add.at(node_values, (first, second)[other][0], moved)
            contribution = half * shares[me] * child_live
            is_leaf = child < n
            np.add.at(node_values, child[is_leaf], contribution[is_leaf])
            priorities = np.abs(contribution[:, focus]).max(axis=1)
            for k in np.flatnonzero(~is_leaf & child_live.any(axis=1)):
                terms.push(
                    float(priorities[k]),
                    int(child[k]),
                    context[k],
                    start[k],
                    end[k],
                    float(half[k, 0]),
                    child_live[k],
                )
