"""Clustered bar and beeswarm plots: features kept together by a linkage's clusters up to the
cutoff (scipy's flat clusters are the truth), merges drawn as a dendrogram at their distances,
features merged to fit the display, the explanation's own clustering, and bad linkages."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import pdist

import shapwise
from shapwise import plots
from shapwise.plots._dendrogram import (
    DENDROGRAM_GID,
    DENDROGRAM_LEFT,
    DENDROGRAM_WIDTH,
    ClusteringError,
    cluster_entries,
)
from tests.plots.drawing import render, tick_labels

NAMES = ["a", "b", "c", "d", "e", "f"]
WEIGHTS = np.array([1.0, 0.5, 2.0, 0.3, 0.2, 1.5])


@pytest.fixture(scope="module")
def clustered() -> tuple[shapwise.Explanation, np.ndarray]:
    """Six features: a ~ b and d ~ e nearly equal, c and f on their own; a linear model's exact
    values (weight x centred feature) and scipy's average-linkage tree of correlation distances."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(80, 4))
    noise = rng.normal(size=(80, 2))
    X = np.column_stack(
        [base[:, 0], base[:, 0] + 0.1 * noise[:, 0], base[:, 1], base[:, 2], base[:, 2]]
    )
    X = np.column_stack([X[:, :4], X[:, 4] + 0.05 * noise[:, 1], base[:, 3]])
    values = (X - X.mean(axis=0)) * WEIGHTS
    explanation = shapwise.Explanation(
        values, base_values=np.zeros(80), data=X, feature_names=NAMES
    )
    return explanation, linkage(pdist(X.T, "correlation"), "average")


def _dendrogram_lines(ax) -> list:
    return [line for line in ax.lines if line.get_gid() == DENDROGRAM_GID]


def _distance(x: np.ndarray, cutoff: float) -> np.ndarray:
    """The distance a dendrogram x coordinate (axes units) stands for."""
    return (np.asarray(x) - DENDROGRAM_LEFT) / DENDROGRAM_WIDTH * cutoff


def test_bar_keeps_close_clusters_together_and_draws_their_merges(clustered, tmp_path):
    explanation, tree = clustered
    cutoff = 0.5
    ax = plots.bar(explanation, clustering=tree, clustering_cutoff=cutoff, show=False)
    render(ax.figure, tmp_path / "clustered_bar.png")
    top_first = tick_labels(ax)[::-1]
    importance = np.abs(explanation.values).mean(axis=0)
    assert sorted(top_first) == NAMES
    widths = {label: p.get_width() for label, p in zip(top_first, _bars_top_first(ax), strict=True)}
    assert [widths[n] for n in NAMES] == pytest.approx(importance)

    flat = fcluster(tree, cutoff, criterion="distance")
    clusters = [[n for n, c in zip(NAMES, flat, strict=True) if c == k] for k in set(flat)]
    assert sorted(len(c) for c in clusters) == [1, 1, 2, 2]  # {a, b}, {d, e}, {c}, {f}
    for members in clusters:  # each cluster is a run of neighbouring bars, the larger first
        positions = sorted(top_first.index(n) for n in members)
        assert positions == list(range(positions[0], positions[0] + len(members)))
        in_order = [top_first[p] for p in positions]
        assert in_order == sorted(members, key=lambda n: -importance[NAMES.index(n)])
    # clusters follow each other by their most important feature
    leaders = [top_first[min(top_first.index(n) for n in c)] for c in clusters]
    strongest = {
        top_first[min(top_first.index(n) for n in c)]: max(importance[NAMES.index(n)] for n in c)
        for c in clusters
    }
    assert sorted(leaders, key=top_first.index) == sorted(leaders, key=lambda n: -strongest[n])

    # one bracket per merge at a distance up to the cutoff, between the merged bars, at its distance
    lines = _dendrogram_lines(ax)
    close = tree[tree[:, 2] <= cutoff]
    assert len(lines) == len(close) == 2
    y_of = {label: y for label, y in zip(tick_labels(ax), sorted(ax.get_yticks()), strict=True)}
    brackets = {frozenset(NAMES[int(i)] for i in row[:2]): row[2] for row in close}
    for line in lines:
        ys = line.get_ydata()
        pair = frozenset(label for label, y in y_of.items() if y in (ys[0], ys[-1]))
        assert pair in brackets
        np.testing.assert_allclose(
            _distance(line.get_xdata(), cutoff), [0, brackets[pair], brackets[pair], 0], atol=1e-12
        )
    assert any(t.get_text() == "Clustering cutoff = 0.5" for t in ax.texts)


def _bars_top_first(ax) -> list:
    return sorted(ax.patches, key=lambda p: -p.get_y())


def test_bar_merges_a_close_cluster_that_the_display_limit_would_split(clustered):
    explanation, tree = clustered
    importance = dict(zip(NAMES, np.abs(explanation.values).mean(axis=0), strict=True))
    # unclustered order: c, f, a, b, d, e; three bars would end between a and b, so they merge
    plain = tick_labels(plots.bar(explanation, max_display=3, clustering=False, show=False))
    assert plain[::-1] == ["c", "f", "Sum of 4 other features"]
    ax = plots.bar(explanation, max_display=4, clustering=tree, show=False)
    entries = {"a + b": importance["a"] + importance["b"], "c": importance["c"]}
    entries["f"] = importance["f"]
    expected = sorted(entries, key=lambda label: -entries[label])  # a merged bar is their sum
    assert tick_labels(ax)[::-1] == [*expected, "Sum of 2 other features"]
    widths = [p.get_width() for p in _bars_top_first(ax)]
    rest = importance["d"] + importance["e"]
    assert widths == pytest.approx([entries[label] for label in expected] + [rest])
    assert _dendrogram_lines(ax) == []  # the only drawn merges are inside merged or summed bars


def test_bar_of_one_row_labels_single_features_with_their_data(clustered):
    explanation, tree = clustered
    row = explanation[3]
    ax = plots.bar(row, clustering=tree, max_display=20, show=False)
    top_first = tick_labels(ax)[::-1]
    for name in NAMES:
        value = row.data[NAMES.index(name)]
        assert sum(label.endswith(f"= {name}") for label in top_first) == 1
        assert f"{value:.4g} = {name}" in top_first
    heights = sorted(p.get_width() for p in ax.patches)
    assert heights == pytest.approx(sorted(row.values))


def test_beeswarm_orders_and_merges_by_the_clustering(clustered):
    explanation, tree = clustered
    ax = plots.beeswarm(explanation, clustering=tree, max_display=4, show=False)
    top_first = tick_labels(ax)[::-1]
    assert sorted(top_first[:3]) == ["a + b", "c", "f"]
    assert top_first[3] == "Sum of 2 other features"
    merged = ax.collections[top_first.index("a + b")]  # rows of dots are drawn top first
    values = explanation.values
    np.testing.assert_allclose(merged.get_offsets()[:, 0], values[:, 0] + values[:, 1])
    assert np.allclose(merged.get_facecolors()[:, :3], 0.6)  # grey: no one feature value
    everything = plots.beeswarm(explanation, clustering=tree, max_display=10, show=False)
    order = tick_labels(everything)[::-1]
    assert abs(order.index("a") - order.index("b")) == 1
    assert abs(order.index("d") - order.index("e")) == 1
    assert order[0] == "c"
    left_out = plots.beeswarm(
        explanation, clustering=tree, max_display=4, group_remaining_features=False, show=False
    )
    assert tick_labels(left_out)[::-1] == order[:4]  # the cut falls between clusters


@pytest.fixture(scope="module")
def partition_explanation() -> shapwise.Explanation:
    """A Partition explainer's values of a linear model on features with clusters {0, 1}, {3, 4}."""
    rng = np.random.default_rng(1)
    base = rng.normal(size=(60, 3))
    X = np.column_stack(
        [
            base[:, 0],
            base[:, 0] + 0.1 * rng.normal(size=60),
            base[:, 1],
            base[:, 2],
            base[:, 2] + 0.05 * rng.normal(size=60),
        ]
    )
    masker = shapwise.maskers.Partition(X[:20], clustering="correlation")
    explainer = shapwise.explainers.Partition(lambda Z: Z @ WEIGHTS[:5], masker)
    return explainer(X[:15])


def test_the_explanations_own_clustering_is_drawn_unless_turned_off(partition_explanation):
    tree = partition_explanation.clustering
    assert tree is not None and tree.shape == (4, 4)
    drawn = plots.bar(partition_explanation, show=False)
    close = int((tree[:, 2] <= 0.5).sum())
    assert close == 2 and len(_dendrogram_lines(drawn)) == close
    given = plots.bar(partition_explanation, clustering=tree, show=False)
    assert tick_labels(given) == tick_labels(drawn)
    plain = plots.bar(partition_explanation, clustering=False, show=False)
    assert _dendrogram_lines(plain) == []
    importance = np.abs(partition_explanation.values).mean(axis=0)
    assert [p.get_width() for p in _bars_top_first(plain)] == pytest.approx(
        np.sort(importance)[::-1]
    )
    # a slice keeps the linkage over all five features: it no longer fits, so none is drawn
    part = plots.bar(partition_explanation[:, :3], show=False)
    assert _dendrogram_lines(part) == []
    swarm = plots.beeswarm(partition_explanation, max_display=10, show=False)
    order = tick_labels(swarm)[::-1]
    assert abs(order.index("Feature 0") - order.index("Feature 1")) == 1


def test_a_clustering_that_is_not_a_linkage_over_the_features_is_refused(clustered):
    explanation, tree = clustered
    with pytest.raises(TypeError, match="does not seem to be a partition tree"):
        plots.bar(explanation, clustering=np.array([1, 2, 3]), show=False)
    with pytest.raises(ValueError, match=r"shape \(5, 4\) is needed, got shape \(4, 4\)"):
        plots.bar(explanation, clustering=tree[:4], show=False)
    with pytest.raises(ClusteringError, match="partition tree"):
        plots.beeswarm(explanation, clustering=tree[:, :3], show=False)
    reused = tree.copy()
    reused[1, :2] = tree[0, :2]  # the same two clusters merged twice
    with pytest.raises(ValueError, match="not a valid linkage"):
        plots.bar(explanation, clustering=reused, show=False)
    negative = tree.copy()
    negative[0, 2] = -1.0
    with pytest.raises(ValueError, match="non-negative"):
        plots.bar(explanation, clustering=negative, show=False)
    per_row = np.stack([tree, tree[:, [1, 0, 2, 3]]])
    with pytest.raises(ValueError, match="different linkage for each row"):
        plots.bar(explanation, clustering=per_row, show=False)
    same = plots.bar(explanation, clustering=np.stack([tree, tree]), show=False)
    assert len(_dendrogram_lines(same)) == 2
    with pytest.raises(ValueError, match="not for cohorts"):
        plots.bar({"x": explanation[:40], "y": explanation[40:]}, clustering=tree, show=False)


def test_a_tree_deeper_than_pythons_recursion_limit():
    """A single-linkage chain over 1500 features (each merge adds one feature) is 1499 deep."""
    n = 1500

    def chain(n: int) -> np.ndarray:
        rows = [[0 if i == 0 else n + i - 1, i + 1, (i + 1) / n * 0.4, i + 2] for i in range(n - 1)]
        return np.array(rows, dtype=np.float64)

    values = np.random.default_rng(0).normal(size=n)
    names = [f"f{i}" for i in range(n)]
    drawn = cluster_entries(values, names, np.abs(values), n, chain(n), 0.5)
    assert len(drawn.lines) == n - 1  # every merge is below the cutoff
    # every merge puts the more important side first: the last feature joined comes last
    # exactly when its |value| is below the largest of the others
    last = n - 1
    assert (drawn.labels[-1] == f"f{last}") == (abs(values[last]) < np.abs(values[:last]).max())
    short = 200  # a chain over the first 200: one cluster, merged until 10 entries fit
    fitted = cluster_entries(
        values[:short], names[:short], np.abs(values[:short]), 10, chain(short), 0.5
    )
    assert len(fitted.labels) == 10 and not fitted.summed_rest
    assert sorted(f for group in fitted.members for f in group) == list(range(short))
    np.testing.assert_allclose(sum(fitted.entries), values[:short].sum())
