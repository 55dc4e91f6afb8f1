"""The plots shap has beyond the core ones: violin, partial dependence, embedding, group
difference, monitoring, image-to-text, and shap's colours. Each test reads back what was drawn
and checks it against the numbers it should show."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection, PolyCollection

import shapwise
from shapwise import plots
from tests.plots.drawing import render, tick_labels


@pytest.fixture
def table():
    """Values with known importance order (c > a > b), data, names."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(120, 3))
    values = np.column_stack([0.5 * data[:, 0], 0.1 * data[:, 1], 2.0 * data[:, 2]])
    return values, data, ["a", "b", "c"]


def test_colors_are_shaps():
    shap = pytest.importorskip("shap")
    grid = np.linspace(-0.1, 1.1, 241)
    for name in (
        "red_blue",
        "red_blue_no_bounds",
        "red_blue_transparent",
        "red_white_blue",
        "red_transparent_blue",
        "transparent_red",
        "transparent_blue",
        "red_blue_circle",
    ):
        ours, theirs = getattr(plots.colors, name), getattr(shap.plots.colors, name)
        np.testing.assert_allclose(ours(grid), theirs(grid), atol=1e-6, err_msg=name)
    for name in ("blue_rgb", "red_rgb", "gray_rgb", "light_blue_rgb", "light_red_rgb"):
        np.testing.assert_allclose(
            getattr(plots.colors, name), getattr(shap.plots.colors, name), atol=1e-12
        )
    assert plots.colors.red_blue(np.nan) == pytest.approx((*plots.colors.gray_rgb, 1.0))
    assert plots.initjs() is None and shapwise.initjs() is None


def test_violin_orders_features_and_draws_one_body_each(table, tmp_path):
    values, data, names = table
    ax = plots.violin(values, features=data, feature_names=names, show=False)
    render(ax.figure, tmp_path / "violin.png")
    assert tick_labels(ax) == ["b", "a", "c"]  # most important at the top
    bodies = [c for c in ax.collections if isinstance(c, PolyCollection)]
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(bodies) == 3 and len(points) == 3
    top = next(p for p in points if np.allclose(p.get_offsets()[:, 1], 2))
    np.testing.assert_allclose(np.sort(top.get_offsets()[:, 0]), np.sort(values[:, 2]))
    # dots are coloured by the feature's value: the highest value gets the reddest dot
    colors = top.get_facecolors()
    assert colors[np.argmax(data[:, 2])][0] > colors[np.argmin(data[:, 2])][0]
    unsorted = plots.violin(values, features=data, feature_names=names, sort=False, show=False)
    assert tick_labels(unsorted) == ["c", "b", "a"]
    with pytest.raises(ValueError, match="plot_type"):
        plots.violin(values, plot_type="box", show=False)


def test_layered_violin_stacks_bins_from_low_to_high(table):
    values, data, names = table
    explanation = shapwise.Explanation(values, data=data, feature_names=names)
    ax = plots.violin(
        explanation, plot_type="layered_violin", layered_violin_max_num_bins=5, show=False
    )
    layers = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(layers) == 3 * 5 * 2  # 3 features, 5 bins, drawn above and below the axis
    # the first bins of a feature are the low values (blue), the last the high ones (red)
    first, last = layers[0].get_facecolor()[0], layers[-1].get_facecolor()[0]
    assert first[2] > first[0] and last[0] > last[2]
    log = plots.violin(explanation, use_log_scale=True, show=False)
    assert log.get_xscale() == "symlog"


def test_partial_dependence_is_the_mean_model_output(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))

    def model(rows):
        return rows[:, 0] ** 2 + 3.0 * rows[:, 1] + rows[:, 2]

    figure, ax = plots.partial_dependence(
        0, model, X, npoints=25, model_expected_value=True, feature_expected_value=True, show=False
    )
    render(figure, tmp_path / "pd.png")
    curve = next(line for line in ax.get_lines() if line.get_label() == "partial dependence")
    grid, mean = curve.get_xdata(), curve.get_ydata()
    np.testing.assert_allclose(grid, np.linspace(X[:, 0].min(), X[:, 0].max(), 25))
    expected = [np.mean(v**2 + 3.0 * X[:, 1] + X[:, 2]) for v in grid]  # by definition
    np.testing.assert_allclose(mean, expected, rtol=1e-12)
    ice = next(c for c in ax.collections if isinstance(c, LineCollection))
    assert len(ice.get_segments()) == 60
    assert ax.get_xlabel() == "Feature 0"
    flat = next(line for line in ax.get_lines() if line.get_label() == "E[f(x)]")
    assert flat.get_ydata()[0] == pytest.approx(model(X).mean())


def test_partial_dependence_shap_segment_ends_on_the_curve_of_a_linear_model():
    import pandas as pd

    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(40, 2)), columns=["x", "z"])

    def model(rows):
        rows = np.asarray(rows)
        return 2.0 * rows[:, 0] - rows[:, 1]

    row = X.to_numpy()[3]
    mean = X.to_numpy().mean(axis=0)
    explanation = shapwise.Explanation(  # interventional SHAP of a linear model: w (x - E[x])
        np.array([2.0, -1.0]) * (row - mean),
        base_values=model(X).mean(),
        data=row,
        feature_names=["x", "z"],
    )
    _, ax = plots.partial_dependence("x", model, X, shap_values=explanation, ice=False, show=False)
    segment = next(line for line in ax.get_lines() if line.get_label() == "SHAP value")
    assert segment.get_xdata()[0] == pytest.approx(row[0])
    curve_at_row = 2.0 * row[0] - X["z"].mean()
    assert segment.get_ydata()[1] == pytest.approx(curve_at_row)
    assert ax.get_xlabel() == "x"


def test_embedding_places_rows_by_their_principal_components(table):
    from sklearn.decomposition import PCA

    values, data, names = table
    ax = plots.embedding("c", values, feature_names=names, show=False)
    points = ax.collections[0]
    np.testing.assert_allclose(points.get_offsets(), PCA(2).fit_transform(values), atol=1e-10)
    np.testing.assert_allclose(points.get_array(), values[:, 2])
    assert "SHAP value for\nc" in [a.get_ylabel() for a in ax.figure.axes]
    given = plots.embedding(0, values, method=data[:, :2], show=False)
    np.testing.assert_allclose(given.collections[0].get_offsets(), data[:, :2])
    ranked = plots.embedding("rank(0)", values, show=False)  # the most important: column 2
    np.testing.assert_allclose(ranked.collections[0].get_array(), values[:, 2])


def test_group_difference_bars_are_the_differences_of_means(table):
    values, _, names = table
    group = np.arange(len(values)) % 3 == 0
    ax = plots.group_difference(values, group, feature_names=names, show=False)
    difference = values[group].mean(0) - values[~group].mean(0)
    order = np.argsort(-np.abs(difference))
    assert tick_labels(ax)[::-1] == [names[i] for i in order]
    widths = [patch.get_width() for patch in ax.patches]
    np.testing.assert_allclose(widths, difference[order])
    assert ax.get_xlabel() == "Group SHAP value difference"
    _, low, high = plots.group_difference.__globals__["group_differences"](values, group)
    assert np.all(low <= high)
    one = plots.group_difference(values[:, 0], group, show=False)
    assert [p.get_width() for p in one.patches] == pytest.approx([difference[0]])
    with pytest.raises(ValueError, match="both groups"):
        plots.group_difference(values, np.ones(len(values), bool), show=False)


def test_monitoring_marks_the_change_found_by_a_t_test():
    from scipy.stats import ttest_ind

    rng = np.random.default_rng(3)
    values = rng.normal(0, 0.1, size=(400, 2))
    values[260:, 1] += 1.0  # feature 1's impact changes at row 260
    data = rng.normal(size=(400, 2))
    ax = plots.monitoring(1, values, data, feature_names=["u", "v"], show=False)
    points = ax.collections[0]
    np.testing.assert_allclose(points.get_offsets()[:, 1], values[:, 1])
    splits = list(range(50, 350, 50))
    p_values = [ttest_ind(values[:s, 1], values[s:, 1]).pvalue for s in splits]
    marked = [line.get_xdata()[0] for line in ax.get_lines()]
    assert marked == [splits[int(np.argmin(p_values))]]
    steady = plots.monitoring(0, values, data, show=False)
    assert steady.get_lines() == []  # no significant change in feature 0


def test_image_to_text_shows_each_output_token(digits_explanation):
    one = digits_explanation[0]
    captioned = shapwise.Explanation(
        one.values, data=one.data, output_names=["a", "<cat>", "\u2581sat"]
    )
    markup = plots.image_to_text(captioned, show=False)
    assert markup.count("<figure") == 3 and markup.count("data:image/png;base64,") == 6
    tokens = [part.split("</figcaption>")[0] for part in markup.split("class='token'>")[1:]]
    assert tokens == ["a", "&lt;cat&gt;", "sat"]
    several = shapwise.Explanation(
        digits_explanation.values, data=digits_explanation.data, output_names=["x", "y", "z"]
    )
    assert plots.image_to_text(several, show=False).count("instance:") == 3
    with pytest.raises(TypeError, match="Explanation"):
        plots.image_to_text(np.zeros((8, 8, 1, 3)), show=False)
