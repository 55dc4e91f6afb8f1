"""Exact Owen values over a feature hierarchy the user names (shap 0.51's
``CoalitionExplainer``).

The hierarchy is a dict of groups, e.g. ``{"Sepal": ["sepal length", "sepal width"], "Petal":
{...}}``: at every level on the way from the root to a feature, the groups beside the one that
holds it play a Shapley game, joining whole. The Owen value of feature i is

    sum over the levels' choices R_1, ..., R_d of prod_l |R_l|! (k_l - |R_l| - 1)! / k_l!
        * (v(S + i) - v(S)),  S = the union of the chosen groups' features,

with k_l the number of groups at level l. Every coalition the sum needs is evaluated once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations
from math import factorial
from typing import Any

import numpy as np

from shapwise.explainers._base import Estimate, ExplainerBase
from shapwise.explainers._game import CoalitionGame
from shapwise.explainers._seeds import RowSeeds
from shapwise.links import Link

# Owen values of one feature need the product over levels of 2^(groups beside it); beyond this
# many coalitions in all the hierarchy is too flat to evaluate exactly.
MAX_COALITIONS = 2**20

Tree = list  # nested lists of feature positions


def parse_hierarchy(tree: Any, feature_names: Sequence[str] | None, n_features: int) -> Tree:
    """A dict (or nested lists) of groups as nested lists of feature positions; leaves are
    feature names or positions, and every feature appears exactly once."""
    names = None if feature_names is None else [str(name) for name in feature_names]

    def leaf(item: Any) -> int:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not 0 <= item < n_features:
                raise ValueError(
                    f"partition_tree names feature {item}, but there are {n_features} features"
                )
            return int(item)
        if names is None or str(item) not in names:
            known = "no feature names are known" if names is None else f"features: {names}"
            raise ValueError(
                f"partition_tree names {item!r}, which is not a feature ({known}); name features "
                "by the masker's feature_names (or pass a DataFrame), or by position"
            )
        return names.index(str(item))

    def children(node: Any) -> list:
        if isinstance(node, dict):
            return [child(value) for value in node.values()]
        out: list = []
        for item in node:
            if isinstance(item, dict):
                out.extend(children(item))
            elif isinstance(item, (list, tuple)):
                out.append(child(item))
            else:
                out.append(leaf(item))
        return out

    def child(value: Any) -> Any:
        if isinstance(value, (dict, list, tuple)):
            below = children(value)
            return below[0] if len(below) == 1 else below
        return leaf(value)

    if not isinstance(tree, (dict, list, tuple)):
        raise TypeError(
            "partition_tree must be a dict of groups, e.g. {'Sepal': ['sepal length', 'sepal "
            f"width'], 'Petal': [...]}}; got a {type(tree).__name__}"
        )
    root = children(tree)
    found = _leaves(root)
    repeated = sorted({f for f in found if found.count(f) > 1})
    missing = sorted(set(range(n_features)) - set(found))
    if repeated or missing:
        label = (lambda f: names[f]) if names else (lambda f: f)
        problems = []
        if repeated:
            problems.append(f"named more than once: {[label(f) for f in repeated]}")
        if missing:
            problems.append(f"missing: {[label(f) for f in missing]}")
        raise ValueError(
            "partition_tree must hold every feature exactly once; " + "; ".join(problems)
        )
    return root


def _leaves(node: Any) -> list[int]:
    if isinstance(node, int):
        return [node]
    return [leaf for child in node for leaf in _leaves(child)]


def owen_plan(tree: Tree, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """The coalitions (K, M) the Owen values need and the weights (M, K) that turn their values
    into Owen values: phi = weights @ v."""
    index: dict[bytes, int] = {}
    masks: list[np.ndarray] = []
    entries: list[tuple[int, int, float]] = []

    def position(mask: np.ndarray) -> int:
        key = np.packbits(mask).tobytes()
        if key not in index:
            index[key] = len(masks)
            masks.append(mask)
        return index[key]

    for feature in range(n_features):
        contexts = [(np.zeros(n_features, dtype=bool), 1.0)]
        node: Any = tree
        while not isinstance(node, int):
            branch = next(c for c in node if feature in _leaves(c))
            siblings = [_leaves(c) for c in node if c is not branch]
            k = len(node)
            grown = []
            for size in range(len(siblings) + 1):
                weight = factorial(size) * factorial(k - size - 1) / factorial(k)
                for chosen in combinations(range(len(siblings)), size):
                    for mask, carried in contexts:
                        joined = mask.copy()
                        for s in chosen:
                            joined[siblings[s]] = True
                        grown.append((joined, carried * weight))
            contexts = grown
            if len(contexts) * n_features > MAX_COALITIONS:
                raise ValueError(
                    f"this hierarchy needs more than {MAX_COALITIONS} coalitions for exact Owen "
                    "values; group the features into nested groups of a few each, or use "
                    "explainers.Partition"
                )
            node = branch
        for mask, weight in contexts:
            with_feature = mask.copy()
            with_feature[feature] = True
            entries.append((feature, position(with_feature), weight))
            entries.append((feature, position(mask), -weight))
    weights = np.zeros((n_features, len(masks)))
    for feature, column, weight in entries:
        weights[feature, column] += weight
    return np.array(masks, dtype=bool), weights


class CoalitionExplainer(ExplainerBase):
    """Exact Owen values over a named hierarchy of feature groups.

    Args:
        model: a function of a 2-D array, torch module, Keras model or sklearn estimator.
        masker: background data or a tabular masker (its feature names name the features).
        output_names / feature_names: labels for the explanation.
        link: 'identity' or 'logit'.
        linearize_link: accepted for shap compatibility.
        partition_tree: the groups, a dict such as ``{"Sepal": ["sepal length", "sepal width"],
            "Petal": ["petal length", "petal width"]}`` (values may nest dicts and lists; leaves
            are feature names or positions).
    """

    algorithm = "coalition"

    def __init__(
        self,
        model: Any,
        masker: Any,
        *,
        output_names: list[str] | None = None,
        link: str | Link = "identity",
        linearize_link: bool = True,
        feature_names: list[str] | None = None,
        partition_tree: dict[str, Any] | None = None,
        batch_size: int | None = None,
    ) -> None:
        if partition_tree is None:
            raise ValueError(
                "A `partition_tree` must be provided to CoalitionExplainer: a dict of feature "
                "groups, e.g. {'Sepal': ['sepal length', 'sepal width'], 'Petal': [...]}. For a "
                "hierarchy found by clustering use explainers.Partition"
            )
        super().__init__(
            model,
            masker,
            link=link,
            feature_names=feature_names,
            output_names=output_names,
            batch_size=batch_size,
        )
        n_features = self.masker.shape[1]
        self.partition_tree = partition_tree
        self.hierarchy = parse_hierarchy(partition_tree, self.feature_names, n_features)
        self._masks, self._weights = owen_plan(self.hierarchy, n_features)

    def default_max_evals(self, n_features: int) -> int:
        return len(self._masks) + 2

    def estimate(
        self,
        game: CoalitionGame,
        max_evals: int,
        seeds: RowSeeds,
        done: Callable[[int], Any],
        **options: Any,
    ) -> Estimate:
        n = game.n_features
        ends = np.zeros((2, n), dtype=bool)
        ends[1] = True
        masks = np.concatenate([ends, self._masks])
        parts = []
        for rows in game.row_groups(len(masks)):
            every = np.broadcast_to(masks, (len(rows), *masks.shape))
            tables = game.tables(rows, every, empty_at=0)  # (K + 2, rows, O)
            values = np.einsum("mk,kro->rmo", self._weights, tables[2:])
            parts.append((values, tables[0], tables[1]))
            done(len(rows))
        return tuple(np.concatenate(part) for part in zip(*parts, strict=True))  # type: ignore[return-value]


Coalition = CoalitionExplainer
