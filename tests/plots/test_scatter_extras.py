"""Scatter's histogram (bar heights are the counts of the data in each bin), its overlay curves
(lines through the given points) and several columns side by side."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba

import shapwise
from shapwise import plots


@pytest.fixture
def table() -> shapwise.Explanation:
    """200 rows: a continuous feature, a count 0-4, and a third one; values a function of each."""
    rng = np.random.default_rng(0)
    continuous = rng.normal(size=200)
    counts = rng.integers(0, 5, size=200).astype(np.float64)
    other = rng.uniform(size=200)
    data = np.column_stack([continuous, counts, other])
    values = np.column_stack([np.sin(continuous), counts - counts.mean(), other - 0.5])
    return shapwise.Explanation(
        values, base_values=np.zeros(200), data=data, feature_names=["x", "count", "u"]
    )


def _histogram(ax):
    (twin,) = [a for a in ax.figure.axes if a.get_label() == "histogram"]
    return twin, sorted(twin.patches, key=lambda bar: bar.get_x())


def test_histogram_bars_count_the_rows_in_each_bin(table):
    ax = plots.scatter(table[:, "x"], show=False)
    twin, bars = _histogram(ax)
    x = table.data[:, 0]
    edges = np.array([bar.get_x() for bar in bars] + [bars[-1].get_x() + bars[-1].get_width()])
    assert len(bars) == 20  # 200 rows
    assert edges[0] == pytest.approx(ax.get_xlim()[0]) and edges[-1] == pytest.approx(
        ax.get_xlim()[1]
    )
    np.testing.assert_allclose(np.diff(edges), np.diff(edges)[0])  # equal bins over the x axis
    heights = [bar.get_height() for bar in bars]
    assert heights == list(np.histogram(x, edges)[0])
    assert sum(heights) == len(x)
    assert twin.get_ylim() == (0, len(x))  # a bin holding every row would fill the height
    assert bars[0].get_facecolor() == pytest.approx(to_rgba("#000000", 0.1))
    assert ax.get_zorder() > twin.get_zorder()  # the dots in front of the bars


def test_histogram_of_a_count_has_one_bar_per_integer(table):
    ax = plots.scatter(table[:, "count"], show=False)
    _, bars = _histogram(ax)
    assert [bar.get_x() + bar.get_width() / 2 for bar in bars] == pytest.approx([0, 1, 2, 3, 4])
    counts = np.bincount(table.data[:, 1].astype(int), minlength=5)
    assert [bar.get_height() for bar in bars] == list(counts)
    assert ax.get_xlim()[0] <= -0.5 and ax.get_xlim()[1] >= 4.5


def test_no_histogram_when_turned_off_or_in_the_legacy_dependence_plot(table):
    ax = plots.scatter(table[:, "x"], hist=False, show=False)
    assert [a.get_label() for a in ax.figure.axes] == [""]
    legacy = shapwise.dependence_plot(
        0, table.values, table.data, feature_names=["x", "count", "u"], show=False
    )
    assert all(a.get_label() != "histogram" for a in legacy.figure.axes)


def test_overlay_draws_the_given_curves(table):
    curve = ([-2.0, 0.0, 2.0], [-0.9, 0.0, 0.9])
    ax = plots.scatter(
        table[:, "x"], overlay={"fit": curve, "zero": [([-2, 2], [0, 0])]}, show=False
    )
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["fit"].get_xdata(), curve[0])
    np.testing.assert_allclose(lines["fit"].get_ydata(), curve[1])
    np.testing.assert_allclose(lines["zero"].get_xydata(), [[-2, 0], [2, 0]])
    assert lines["fit"].get_linestyle() == "-" and lines["zero"].get_linestyle() == ":"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fit", "zero"]


def test_several_columns_side_by_side_with_an_overlay_each(table):
    overlay = {
        "foo": [([-2, 0, 2], [0, 1, 2]), ([0, 2, 4], [2, 1, 0])],
        "bar": [([-1, 1], [0, 0]), ([1, 3], [1, 1])],
    }
    axes = plots.scatter(table[:, ["x", "count"]], overlay=overlay, show=False)
    assert len(axes) == 2
    for i, (ax, name) in enumerate(zip(axes, ["x", "count"], strict=True)):
        assert ax.get_xlabel() == name
        points = ax.collections[0].get_offsets()
        np.testing.assert_allclose(points[:, 1], table.values[:, i])
        lines = {line.get_label(): line.get_xydata() for line in ax.get_lines()}
        for curve, pairs in overlay.items():
            np.testing.assert_allclose(lines[curve], np.column_stack(pairs[i]))
    assert axes[0].get_ylim() == axes[1].get_ylim()  # one shared scale of values
    assert axes[0].get_ylabel() == "SHAP value" and axes[1].get_ylabel() == ""
    with pytest.raises(ValueError, match="one \\(xs, ys\\) pair per plotted feature \\(2\\)"):
        plots.scatter(table[:, ["x", "count"]], overlay={"foo": overlay["foo"][:1]}, show=False)
    with pytest.raises(ValueError, match="up to 3 curves"):
        plots.scatter(table[:, "x"], overlay={str(k): ([0], [0]) for k in range(4)}, show=False)
    with pytest.raises(ValueError, match="leave ax=None"):
        plots.scatter(table[:, ["x", "u"]], ax=axes[0], show=False)
