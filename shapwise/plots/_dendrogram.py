"""Feature clusterings in bar and beeswarm plots.

A scipy linkage matrix over the features is read as a tree. Features in one cluster closer than the
cutoff are kept next to each other (the more important side first), clusters follow each other by
their most important feature, and when the display limit would cut a close cluster in two, its
least important sibling features are merged into one entry ("a + b") until it does not. The merges
below the cutoff are drawn as a dendrogram beside the bars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shapwise.plots._common import format_number, others_label

# where the dendrogram sits, in axes coordinates to the right of the plot: its leaves at
# DENDROGRAM_LEFT, the cutoff distance at DENDROGRAM_LEFT + DENDROGRAM_WIDTH
DENDROGRAM_LEFT = 1.02
DENDROGRAM_WIDTH = 0.12
DENDROGRAM_GID = "dendrogram"
LONGEST_JOINED_LABEL = 40


class ClusteringError(ValueError, TypeError):
    """A ``clustering`` that is not a linkage matrix over the plotted features. A TypeError too,
    as shap raises one for a clustering of the wrong shape."""


@dataclass(frozen=True, eq=False)
class Cluster:
    """A node of the feature tree: one feature (no children) or the merge of two clusters."""

    features: tuple[int, ...]
    height: float
    children: tuple[Cluster, ...] = ()


@dataclass(frozen=True)
class ClusteredEntries:
    """What a plot draws for clustered features, top first.

    Attributes:
        members: the original features of each drawn entry (one, or several merged), then the
            features folded into the last "Sum of N other features" entry when there is one.
        labels: one label per entry.
        entries: the values of each entry (its members' values summed) on the last axis.
        lines: one (distances, positions) pair per merge below the cutoff among the shown entries:
            the four corners of a bracket, positions counted from the top entry (0).
        summed_rest: whether the last entry sums the features that did not fit.
    """

    members: list[tuple[int, ...]]
    labels: list[str]
    entries: list[np.ndarray]
    lines: list[tuple[list[float], list[float]]]
    summed_rest: bool


def read_linkage(clustering: Any, n_features: int, given: bool) -> np.ndarray | None:
    """The linkage matrix to cluster ``n_features`` by, or None for no clustering.

    ``clustering`` is the plot's keyword (``given``) or an explanation's ``clustering``; False means
    none. A stack of one linkage per row counts when every row's is the same; an explanation's
    differing ones are left unused (as shap's), given ones are an error.
    """
    if clustering is None or clustering is False:
        return None
    try:
        linkage = np.asarray(clustering, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise _wrong_linkage(np.shape(clustering), n_features) from error
    if linkage.ndim == 3 and len(linkage):
        if not np.all(linkage == linkage[0]):
            if not given:
                return None
            raise ClusteringError(
                "clustering gives a different linkage for each row; a plot of many rows draws one "
                "tree: pass one linkage matrix, e.g. clustering=shapwise.utils.hclust(X)"
            )
        linkage = linkage[0]
    if linkage.shape != (n_features - 1, 4):
        raise _wrong_linkage(linkage.shape, n_features)
    _check_merges(linkage, n_features)
    return linkage


def plot_linkage(clustering: Any, carried: Any, n_features: int) -> np.ndarray | None:
    """The linkage a plot clusters by: the given ``clustering``, else the explanation's own
    (``carried``) when it is one over these features (a slice of an explanation keeps the
    linkage over all the features it was cut from; that one is left unused)."""
    if clustering is not None:
        return read_linkage(clustering, n_features, given=True)
    if carried is None or np.shape(carried)[-2:] != (n_features - 1, 4):
        return None
    return read_linkage(carried, n_features, given=False)


def _wrong_linkage(shape: tuple[int, ...], n_features: int) -> ClusteringError:
    return ClusteringError(
        f"The clustering does not seem to be a partition tree over the {n_features} features: a "
        f"scipy linkage matrix of shape ({n_features - 1}, 4) is needed, got shape {shape}. Build "
        "one with shapwise.utils.hclust(X) (or scipy.cluster.hierarchy.linkage on the features), "
        "or pass clustering=False to draw no clustering"
    )


def _check_merges(linkage: np.ndarray, n_features: int) -> None:
    """Each row merges two earlier clusters, each used once, at a finite, non-negative distance."""
    children = linkage[:, :2]
    if not np.all(np.isfinite(linkage[:, :3])) or np.any(linkage[:, 2] < 0):
        raise ClusteringError(
            "clustering distances (its third column) must be finite and non-negative"
        )
    if not np.all(children == np.round(children)):
        raise ClusteringError("clustering's first two columns must be cluster indexes (integers)")
    limits = n_features + np.arange(len(linkage))[:, None]
    used = children.astype(np.int64).reshape(-1)
    if np.any(children < 0) or np.any(children >= limits) or len(set(used.tolist())) != used.size:
        raise ClusteringError(
            "clustering is not a valid linkage: row i must merge two clusters made before it "
            f"(indexes below {n_features} + i), each once"
        )


def tree(linkage: np.ndarray, n_features: int) -> Cluster:
    """The root of the tree a linkage matrix describes (one feature when there is only one)."""
    nodes = [Cluster((f,), 0.0) for f in range(n_features)]
    for left, right, height, _ in linkage:
        a, b = nodes[int(left)], nodes[int(right)]
        nodes.append(Cluster(a.features + b.features, float(height), (a, b)))
    return nodes[-1]


def cluster_entries(
    values: np.ndarray,
    labels: list[str],
    importance: np.ndarray,
    max_display: int,
    linkage: np.ndarray,
    cutoff: float,
    group_remaining: bool = True,
) -> ClusteredEntries:
    """The entries to draw for features clustered by ``linkage``, most important cluster first.

    Args:
        values: attributions with the features on the last axis.
        labels: one label per feature.
        importance: one number per feature (larger first).
        max_display: the most entries drawn, the last one summing the rest when they do not fit.
        cutoff: clusters merged at a distance up to this stay together and are drawn.
        group_remaining: sum the features that do not fit into a last entry (else leave them out).
    """
    importance = np.abs(np.asarray(importance, dtype=np.float64))
    root = tree(linkage, len(labels))
    max_display = max(int(max_display), 1)
    while True:
        order, cluster_of = _display_order(root, importance, cutoff)
        if len(order) <= max_display:
            keep = len(order)
        else:  # room for a last entry summing the rest, or the rest left out
            keep = max(max_display - 1, 1) if group_remaining else max_display
        if keep == len(order):
            break
        split = cluster_of[id(order[keep])]
        if cluster_of[id(order[keep - 1])] is not split:
            break
        root = _merge_least_important(root, split, importance)
    shown, rest = order[:keep], order[keep:]
    members = [leaf.features for leaf in shown]
    entry_labels = [_joined_label(leaf.features, labels, importance) for leaf in shown]
    entries = [values[..., list(leaf.features)].sum(axis=-1) for leaf in shown]
    summed_rest = bool(rest) and group_remaining
    if summed_rest:
        folded = tuple(f for leaf in rest for f in leaf.features)
        members.append(folded)
        entry_labels.append(others_label(len(folded)))
        entries.append(values[..., list(folded)].sum(axis=-1))
    positions = {leaf.features: k for k, leaf in enumerate(shown)}
    return ClusteredEntries(
        members, entry_labels, entries, _bracket_lines(root, positions, cutoff), summed_rest
    )


def _leaves(node: Cluster) -> list[Cluster]:
    """The entries under ``node``, left to right (without recursion: a single-linkage tree over
    many features is about as deep as it is wide)."""
    return [n for n in _nodes(node) if not n.children]


def _leaf_importance(node: Cluster, importance: np.ndarray) -> float:
    """A drawn entry's importance: its features' summed (a merged entry is their sum)."""
    return float(importance[list(node.features)].sum())


def _strengths(root: Cluster, importance: np.ndarray) -> dict[int, float]:
    """Each node's importance (by id): that of its most important entry."""
    strengths: dict[int, float] = {}
    for node in reversed(_nodes(root)):  # children before their parents
        if node.children:
            strengths[id(node)] = max(strengths[id(child)] for child in node.children)
        else:
            strengths[id(node)] = _leaf_importance(node, importance)
    return strengths


def _close_clusters(root: Cluster, cutoff: float) -> list[Cluster]:
    """The largest clusters merged at a distance up to the cutoff (a feature alone is one), left
    to right."""
    found, stack = [], [root]
    while stack:
        node = stack.pop()
        if not node.children or node.height <= cutoff:
            found.append(node)
        else:
            stack.extend(reversed(node.children))
    return found


def _ordered_leaves(root: Cluster, strengths: dict[int, float]) -> list[Cluster]:
    """The entries under ``root``, the more important side of every merge first."""
    found, stack = [], [root]
    while stack:
        node = stack.pop()
        if not node.children:
            found.append(node)
            continue
        first, second = sorted(node.children, key=lambda c: -strengths[id(c)])
        stack.extend([second, first])
    return found


def _display_order(
    root: Cluster, importance: np.ndarray, cutoff: float
) -> tuple[list[Cluster], dict[int, Cluster]]:
    """(the entries top first, the close cluster of each entry by its id)."""
    strengths = _strengths(root, importance)
    clusters = _close_clusters(root, cutoff)
    clusters.sort(key=lambda c: -strengths[id(c)])  # stable: ties keep the tree's order
    order, cluster_of = [], {}
    for cluster in clusters:
        for leaf in _ordered_leaves(cluster, strengths):
            order.append(leaf)
            cluster_of[id(leaf)] = cluster
    return order, cluster_of


def _merge_least_important(root: Cluster, within: Cluster, importance: np.ndarray) -> Cluster:
    """``root`` with the two sibling entries under ``within`` of least summed importance merged
    into one entry."""
    pairs = [
        node
        for node in _nodes(within)
        if node.children and not any(child.children for child in node.children)
    ]
    target = min(pairs, key=lambda node: _leaf_importance(node, importance))
    return _replaced(root, target, Cluster(target.features, 0.0))


def _nodes(root: Cluster) -> list[Cluster]:
    """Every node under ``root`` (itself included), parents before children, left to right."""
    found, stack = [], [root]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(reversed(node.children))
    return found


def _replaced(root: Cluster, old: Cluster, new: Cluster) -> Cluster:
    """``root`` with the node ``old`` replaced by ``new`` (the path above it rebuilt)."""
    parents: dict[int, Cluster] = {}
    for node in _nodes(root):
        for child in node.children:
            parents[id(child)] = node
    current, replacement = old, new
    while current is not root:
        parent = parents[id(current)]
        children = tuple(replacement if c is current else c for c in parent.children)
        current, replacement = parent, Cluster(parent.features, parent.height, children)
    return replacement


def _joined_label(features: tuple[int, ...], labels: list[str], importance: np.ndarray) -> str:
    """One feature's label, merged features' labels joined by " + ", or, when that is too long,
    the most important one's and how many others."""
    if len(features) == 1:
        return labels[features[0]]
    joined = " + ".join(labels[f] for f in features)
    if len(joined) <= LONGEST_JOINED_LABEL:
        return joined
    top = max(features, key=lambda f: importance[f])
    return f"{labels[top]} + {len(features) - 1} other features"


def _bracket_lines(
    root: Cluster, positions: dict[tuple[int, ...], int], cutoff: float
) -> list[tuple[list[float], list[float]]]:
    """One bracket per merge up to the cutoff whose entries are all shown: (distances, positions)
    of its four corners, from the first child up to the merge and down to the second."""
    lines: list[tuple[list[float], list[float]]] = []
    joints: dict[int, tuple[float, float] | None] = {}  # (position, distance), None: not drawn
    for node in reversed(_nodes(root)):  # children before their parents
        if node.features in positions:
            joints[id(node)] = (float(positions[node.features]), 0.0)
            continue
        below = [joints[id(child)] for child in node.children]
        if not node.children or node.height > cutoff or any(j is None for j in below):
            joints[id(node)] = None
            continue
        (y1, d1), (y2, d2) = below  # type: ignore[misc]
        lines.append(([d1, node.height, node.height, d2], [y1, y1, y2, y2]))
        joints[id(node)] = ((y1 + y2) / 2, node.height)
    return lines


def dendrogram_reach(lines: list, cutoff: float) -> float:
    """The distance drawn DENDROGRAM_WIDTH right of the leaves: the cutoff, or the tallest merge
    when the cutoff is not a positive finite number."""
    if 0 < cutoff < np.inf:
        return float(cutoff)
    return max(max(max(distances) for distances, _ in lines), 1e-12)


def draw_dendrogram(ax: Any, lines: list, top_position: float, cutoff: float) -> None:
    """The brackets beside the plot (positions counted down from ``top_position``, in data units
    of the y axis), scaled so that the cutoff distance sits DENDROGRAM_WIDTH to the right."""
    from matplotlib.transforms import blended_transform_factory

    if not lines:
        return
    transform = blended_transform_factory(ax.transAxes, ax.transData)
    scale = DENDROGRAM_WIDTH / dendrogram_reach(lines, cutoff)
    for distances, positions in lines:
        ax.plot(
            [DENDROGRAM_LEFT + scale * d for d in distances],
            [top_position - p for p in positions],
            color="#999999",
            linewidth=1,
            transform=transform,
            clip_on=False,
            gid=DENDROGRAM_GID,
        )
    edge = DENDROGRAM_LEFT + DENDROGRAM_WIDTH
    ax.plot(
        [edge, edge], [0, 1], color="#dddddd", dashes=(1, 1), transform=ax.transAxes, clip_on=False
    )
    ax.text(
        edge + 0.01,
        0.5,
        f"Clustering cutoff = {format_number(cutoff, 2)}",
        transform=ax.transAxes,
        rotation=-90,
        ha="left",
        va="center",
        color="#999999",
        fontsize=9,
    )
