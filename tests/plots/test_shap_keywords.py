"""The Explanation plots take shap's keywords and inputs: dicts of explanations, colours,
colorbars, log scales, (n, 1) columns, string features, and shap's messages for wrong types."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba

import shapwise
from shapwise import plots
from tests.plots.drawing import all_texts, tick_labels


@pytest.fixture
def explanation() -> shapwise.Explanation:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(50, 4))
    values = data * np.array([1.0, 0.3, 2.0, 0.1])
    return shapwise.Explanation(
        values, base_values=np.full(50, 0.5), data=data, feature_names=["a", "b", "c", "d"]
    )


def test_wrong_input_types_get_shaps_messages():
    values = np.zeros((3, 2))
    with pytest.raises(TypeError, match="The beeswarm plot requires an `Explanation` object"):
        plots.beeswarm(values, show=False)
    with pytest.raises(TypeError, match="The waterfall plot requires an `Explanation` object"):
        plots.waterfall(values, show=False)
    with pytest.raises(TypeError, match="The shap_values parameter must be a shap.Explanation"):
        plots.scatter(values, show=False)
    with pytest.raises(TypeError, match="The shap_values argument must be an Explanation object"):
        plots.bar(values, show=False)
    with pytest.raises(TypeError, match="The shap_values argument must be an Explanation object"):
        plots.bar({"a": values}, show=False)


def test_bar_of_a_dict_of_explanations_draws_one_bar_per_cohort(explanation):
    groups = {"first": explanation[:20], "rest": explanation[20:]}
    ax = plots.bar(groups, show=False)
    assert len(ax.patches) == 2 * 4
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["first (20 rows)", "rest (30 rows)"]
    widths = sorted(round(p.get_width(), 12) for p in ax.patches)
    expected = [np.abs(explanation.values[:20]).mean(0), np.abs(explanation.values[20:]).mean(0)]
    assert widths == sorted(np.round(np.concatenate(expected), 12))
    with pytest.raises(ValueError, match="not a valid linkage"):
        plots.bar(explanation, clustering=np.zeros((3, 4)), show=False)


def test_beeswarm_colours_and_colorbar(explanation):
    solid = plots.beeswarm(explanation, color="shap_red", show=False)
    assert all(a.get_ylabel() != "Feature value" for a in solid.figure.axes)  # no colorbar
    for collection in solid.collections:
        np.testing.assert_allclose(collection.get_facecolors()[:, :3], [to_rgba("#ff0051")[:3]])
    mapped = plots.beeswarm(
        explanation, color=plots.colors.red_blue, color_bar_label="value", show=False
    )
    assert [a.get_ylabel() for a in mapped.figure.axes].count("value") == 1
    top = mapped.collections[0]  # feature c, the most important
    column = explanation.data[:, 2]
    low, high = np.nanpercentile(column, [5, 95])
    expected = plots.colors.red_blue(np.clip((column - low) / (high - low), 0, 1))
    np.testing.assert_allclose(top.get_facecolors()[:, :3], expected[:, :3])
    bare = plots.beeswarm(explanation, color_bar=False, log_scale=True, show=False)
    assert all(a.get_ylabel() != "Feature value" for a in bare.figure.axes)
    assert bare.get_xscale() == "symlog"
    few = plots.beeswarm(explanation, max_display=2, group_remaining_features=False, show=False)
    assert tick_labels(few) == ["a", "c"]
    grouped = plots.beeswarm(explanation, max_display=2, show=False)
    assert tick_labels(grouped) == ["Sum of 3 other features", "c"]


def test_scatter_of_an_n_by_1_explanation_and_a_solid_colour(explanation):
    ax = plots.scatter(explanation[:, [2]], color="#00ff00", title="c alone", show=False)
    points = ax.collections[0]
    np.testing.assert_allclose(points.get_offsets()[:, 0], explanation.data[:, 2])
    np.testing.assert_allclose(points.get_offsets()[:, 1], explanation.values[:, 2])
    np.testing.assert_allclose(points.get_facecolors()[0][:3], [0.0, 1.0, 0.0])
    assert ax.get_title() == "c alone"
    limited = plots.scatter(explanation[:, "a"], xmin="percentile(5)", ymax=1.0, show=False)
    assert limited.get_xlim()[0] == pytest.approx(np.percentile(explanation.data[:, 0], 5))
    assert limited.get_ylim()[1] == pytest.approx(1.0)


def test_force_plot_with_string_features():
    row = shapwise.Explanation(
        np.array([0.4, -0.2, 0.05]),
        base_values=1.0,
        data=np.array(["red", 3.5, "north"], dtype=object),
        feature_names=["colour", "size", "region"],
    )
    ax = plots.force(row, show=False)
    texts = all_texts(ax.figure)
    assert "colour = red" in texts and "size = 3.5" in texts
    assert "f(x) = 1.25" in texts


def test_plots_force_takes_shaps_arrays_too():
    values, base = np.array([0.3, -0.1]), 2.0
    ax = plots.force(base, values, np.array([1.0, "x"], dtype=object), ["p", "q"], show=False)
    texts = all_texts(ax.figure)
    assert "f(x) = 2.2" in texts and "p = 1" in texts
    with pytest.raises(TypeError, match="no shap_values"):
        plots.force(2.0, show=False)


def test_heatmap_takes_shaps_orders(explanation):
    by_sum = plots.heatmap(explanation, instance_order=explanation.sum(1), show=False)
    (image,) = by_sum.get_images()
    order = np.argsort(-explanation.values.sum(1), kind="stable")
    top_feature = int(np.argmax(np.abs(explanation.values).mean(0)))
    np.testing.assert_allclose(
        np.asarray(image.get_array())[0], explanation.values[order, top_feature]
    )
    chained = plots.heatmap(explanation, instance_order=shapwise.Explanation.hclust(), show=False)
    rows = shapwise.utils.hclust_ordering(explanation.values)
    np.testing.assert_allclose(
        np.asarray(chained.get_images()[0].get_array())[0], explanation.values[rows, top_feature]
    )
    by_max = plots.heatmap(
        explanation, feature_values=shapwise.Explanation.abs.max(0), max_display=4, show=False
    )
    expected = [
        explanation.feature_names[i] for i in np.argsort(-np.abs(explanation.values).max(0))
    ]
    labels = tick_labels(by_max)
    assert labels == expected or labels == expected[::-1]
    with pytest.raises(ValueError, match="one entry per row"):
        plots.heatmap(explanation, instance_order=np.arange(3), show=False)
