"""shap's older plotting functions draw through the Explanation plots, with the arguments shap's
own tests pass; each test reads back what was drawn."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

import shapwise as shap
from shapwise.plots.legacy import DecisionPlotResult
from tests.plots.drawing import all_texts, tick_labels


def test_summary_plot_dot_and_bar(diabetes_explanation):
    values, data = diabetes_explanation.values, diabetes_explanation.data
    names = diabetes_explanation.feature_names
    ax = shap.summary_plot(values, data, feature_names=names, max_display=5, show=False)
    top = names[int(np.argmax(np.abs(values).mean(0)))]
    assert tick_labels(ax)[-1] == top and tick_labels(ax)[0] == "Sum of 6 other features"
    ax = shap.summary_plot(values, feature_names=names, plot_type="bar", show=False)
    assert len(ax.patches) == 10
    ax = shap.summary_plot(diabetes_explanation, sort=False, title="t", show=False)
    assert tick_labels(ax)[::-1][:3] == names[:3] and ax.get_title() == "t"
    assert shap.summary_plot(values, data, use_log_scale=True, show=False).get_xscale() == "symlog"
    with pytest.raises(ValueError, match="plot_type must be one of"):
        shap.summary_plot(values, data, plot_type="pie", show=False)


def test_summary_plot_violins(diabetes_explanation):
    values, data = diabetes_explanation.values, diabetes_explanation.data
    for plot_type in ("violin", "layered_violin"):
        ax = shap.summary_plot(values, data, plot_type=plot_type, max_display=4, show=False)
        assert len(tick_labels(ax)) == 4
        assert any(isinstance(c, PolyCollection) for c in ax.collections)


def _per_class():
    """Three classes' values of 4 features, 30 rows, with different scales per class."""
    rng = np.random.default_rng(5)
    return [rng.normal(size=(30, 4)) * np.array([1.0, 0.2, 0.5, 2.0]) * (k + 1) for k in range(3)]


def test_summary_plot_of_per_class_values_stacks_their_bars():
    per_class = _per_class()
    names = ["w", "x", "y", "z"]
    ax = shap.summary_plot(
        per_class, feature_names=names, class_names=["s", "ve", "vi"],
        show_values_in_legend=True, show=False,
    )  # fmt: skip
    importance = np.stack([np.abs(v).mean(0) for v in per_class])
    order = np.argsort(-importance.sum(0))
    assert tick_labels(ax)[::-1] == [names[i] for i in order]
    assert len(ax.patches) == 3 * 4
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    classes = np.argsort(-importance.sum(1))
    labels = ["s", "ve", "vi"]
    assert legend == [f"{labels[k]} ({np.round(importance[k].sum(), 3)})" for k in classes]
    # the bars of the top feature add up to its summed importance over the classes
    top_bars = [p for p in ax.patches if abs(p.get_y() + p.get_height() / 2 - 3) < 1e-9]
    assert sum(p.get_width() for p in top_bars) == pytest.approx(importance[:, order[0]].sum())


def test_summary_plot_of_a_three_dimensional_array_of_classes_stacks_their_bars():
    """A multi-class array (rows, features, classes), as TreeExplainer's shap_values gives
    it, and the Explanation of several outputs: the bars of the list of per-class arrays."""
    per_class = _per_class()
    names = ["w", "x", "y", "z"]
    listed = shap.summary_plot(per_class, feature_names=names, show=False)
    stacked = np.stack(per_class, axis=-1)  # (rows, 4 features, 3 classes): not square
    for drawn in (
        shap.summary_plot(stacked, feature_names=names, show=False),
        shap.summary_plot(shap.Explanation(stacked, feature_names=names), show=False),
    ):
        assert tick_labels(drawn) == tick_labels(listed)
        widths = sorted(p.get_width() for p in drawn.patches)
        assert widths == pytest.approx(sorted(p.get_width() for p in listed.patches))
    square = np.stack([per_class[0][:, :3]] * 3, axis=-1)  # (rows, 3, 3): interactions
    assert isinstance(shap.summary_plot(square, show=False), plt.Figure)


def _interaction_values():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    values = np.zeros((50, 3, 3))
    values[:, 0, 0], values[:, 1, 1], values[:, 2, 2] = X[:, 0], 0.1 * X[:, 1], 0.5 * X[:, 2]
    values[:, 0, 2] = values[:, 2, 0] = 0.3 * X[:, 0] * X[:, 2]
    return values, X, ["a", "b", "c"]


def test_summary_plot_of_interaction_values():
    values, X, names = _interaction_values()
    figure = shap.summary_plot(values, X, feature_names=names, show=False)
    grid = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert len(grid) == 9
    assert [ax.get_title() for ax in grid[:3]] == ["a", "c", "b"]  # by total |value|
    # the (a, c) panel holds twice the (a, c) half: both halves of the pair
    offsets = grid[1].collections[0].get_offsets()[:, 0]
    np.testing.assert_allclose(np.sort(offsets), np.sort(2 * values[:, 0, 2]))
    ax = shap.summary_plot(values, X, feature_names=names, plot_type="compact_dot", show=False)
    assert {"a", "b", "c", "a * c"} <= set(tick_labels(ax))


def test_dependence_plot_names_and_colour(diabetes_explanation):
    values, data = diabetes_explanation.values, diabetes_explanation.data
    names = diabetes_explanation.feature_names
    ax = shap.dependence_plot(
        "bmi", values, data, feature_names=names, interaction_index="age", show=False
    )
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 0], data[:, names.index("bmi")])
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], values[:, names.index("bmi")])
    assert "age" in all_texts(ax.figure)
    auto = shap.dependence_plot("rank(0)", values, data, feature_names=names, show=False)
    first = int(np.argmax(np.abs(values).mean(0)))
    picked = shap.utils.approximate_interactions(first, values, data)[0]
    assert names[picked] in [a.get_ylabel() for a in auto.figure.axes]
    limited = shap.dependence_plot(
        "bmi", values, data, feature_names=names, xmin="percentile(10)", show=False
    )
    assert limited.get_xlim()[0] == pytest.approx(np.percentile(data[:, names.index("bmi")], 10))


def test_dependence_plot_of_string_features():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"colour": rng.choice(["red", "green", "blue"], 60), "size": rng.normal(size=60)}
    )
    values = np.column_stack(
        [frame["colour"].map({"red": 1.0, "green": 0.0, "blue": -1.0}), 0.2 * frame["size"]]
    )
    ax = shap.dependence_plot("colour", values, frame, interaction_index="size", show=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["blue", "green", "red"]
    points = ax.collections[0].get_offsets()
    codes = frame["colour"].map({"blue": 0, "green": 1, "red": 2}).to_numpy()
    np.testing.assert_allclose(points[:, 0], codes)
    np.testing.assert_allclose(points[:, 1], values[:, 0])


def test_dependence_plot_of_an_interaction_pair():
    values, X, names = _interaction_values()
    ax = shap.dependence_plot(("a", "c"), values, X, feature_names=names, show=False)
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], 2 * values[:, 0, 2])
    assert ax.get_ylabel() == "SHAP interaction value for\na * c"


def test_force_plot_one_row(diabetes_explanation):
    row = diabetes_explanation[0]
    ax = shap.force_plot(
        row.base_values, row.values, row.data, feature_names=row.feature_names, show=False
    )
    output = float(row.base_values) + row.values.sum()
    assert f"f(x) = {output:.4g}" in all_texts(ax.figure)
    again = shap.force_plot(row, show=False)
    assert f"f(x) = {output:.4g}" in all_texts(again.figure)
    many = shap.force_plot(0.0, diabetes_explanation.values, show=False)  # the stacked plot
    np.testing.assert_allclose(many.outputs, diabetes_explanation.values.sum(axis=1))
    with pytest.raises(ValueError, match="force_plot draws one row, or many rows"):
        shap.force_plot(0.0, np.zeros((2, 3, 4)), show=False)


def test_force_plot_with_the_logit_link_shows_probabilities():
    values, base = np.array([0.8, -0.3, 1.1]), -0.4
    row = pd.Series(["yes", 3.5, "north"], index=["member", "age", "region"])
    ax = shap.force_plot(base, values, row, link="logit", show=False)
    texts = all_texts(ax.figure)
    probability = 1 / (1 + np.exp(-(base + values.sum())))
    assert f"f(x) = {probability:.4g}" in texts
    assert f"base value\n{1 / (1 + np.exp(-base)):.4g}" in texts
    assert "member = yes" in texts and "region = north" in texts
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert "0.5" in ticks


def _paths(ax):
    """The rows' paths (the base value's dashed line has two points)."""
    return [line for line in ax.get_lines() if len(line.get_xdata()) > 2]


def test_decision_plot_paths_end_at_the_outputs(diabetes_explanation):
    values = diabetes_explanation.values[:5]
    base = float(np.asarray(diabetes_explanation.base_values).reshape(-1)[0])
    result = shap.decision_plot(
        base, values, feature_names=diabetes_explanation.feature_names, show=False,
        return_objects=True,
    )  # fmt: skip
    assert isinstance(result, DecisionPlotResult) and result.base_value == pytest.approx(base)
    ax = shap.decision_plot(base, values, show=False)
    ends = sorted(line.get_xdata()[-1] for line in _paths(ax))
    np.testing.assert_allclose(ends, np.sort(base + values.sum(1)))
    with pytest.raises(ValueError, match="multioutput_decision_plot"):
        shap.decision_plot(base, [values, values], show=False)


def test_plots_decision_takes_shaps_legacy_call_too(diabetes_explanation):
    """shap 0.51's plots.decision is its legacy decision_plot(base, values, features, ...)."""
    values = diabetes_explanation.values[:5]
    base = float(np.asarray(diabetes_explanation.base_values).reshape(-1)[0])
    ax = shap.plots.decision(base, values, diabetes_explanation.data[:5], show=False)
    ends = sorted(line.get_xdata()[-1] for line in _paths(ax))
    np.testing.assert_allclose(ends, np.sort(base + values.sum(1)))
    assert shap.plots.decision(diabetes_explanation[:5], show=False) is not None


def test_multioutput_decision_plot_draws_one_line_per_output():
    per_output = _per_class()
    bases = np.array([0.2, 0.5, 0.3])
    ax = shap.multioutput_decision_plot(list(bases), per_output, row_index=2, show=False)
    lines = _paths(ax)
    assert len(lines) == 3
    starts = sorted(line.get_xdata()[0] for line in lines)
    np.testing.assert_allclose(starts, np.sort(bases))
    ends = sorted(line.get_xdata()[-1] for line in lines)
    np.testing.assert_allclose(ends, np.sort(bases + np.array([v[2].sum() for v in per_output])))


def test_image_plot_list_per_output(digits_explanation):
    values = digits_explanation.values  # (N, H, W, C, O)
    per_output = [values[..., k] for k in range(values.shape[-1])]
    figure = shap.image_plot(per_output, digits_explanation.data, show=False)
    n_rows = min(len(values), 8)
    assert len(figure.axes) >= n_rows * (1 + values.shape[-1])


def test_image_plot_of_images_without_a_channel_axis(digits_explanation):
    values = digits_explanation.values[:, :, :, 0, :]  # (N, H, W, O)
    per_output = [values[..., k] for k in range(values.shape[-1])]
    pixels = digits_explanation.data[..., 0]  # (N, H, W)
    figure = shap.image_plot(per_output, pixels, true_labels=["u", "v", "w"], show=False)
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 3 * 4
    shown = panels[1].get_images()[-1].get_array()
    np.testing.assert_allclose(shown, values[0, :, :, 0])
    assert [panels[4 * r].get_title() for r in range(3)] == ["u", "v", "w"]


def test_bar_plot_of_one_row_and_the_other_legacy_names(diabetes_explanation):
    row = diabetes_explanation[0]
    ax = shap.bar_plot(row.values, row.data, feature_names=row.feature_names, show=False)
    widths = sorted(p.get_width() for p in ax.patches)
    top9 = np.sort(row.values[np.argsort(-np.abs(row.values))[:9]])
    assert len(widths) == 10 and set(np.round(top9, 9)) <= set(np.round(widths, 9))
    real_shap = pytest.importorskip("shap")
    legacy = [n for n in dir(real_shap) if n.endswith("_plot")] + ["initjs", "getjs", "save_html"]
    assert [n for n in legacy if not hasattr(shap, n)] == []


def test_decision_plot_feature_orders_put_the_last_of_an_order_on_top():
    """shap's feature_order: 'hclust' sets features of similar values side by side; None keeps
    them as given and a list of positions orders them, the last drawn on top."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(30, 6)) * np.array([1.0, 3.0, 0.5, 2.0, 0.1, 1.5])
    values[:, 5] = 0.9 * values[:, 1] + 0.1 * rng.normal(size=30)  # f5 follows f1
    names = [f"f{i}" for i in range(6)]

    def top_down(feature_order):
        ax = shap.decision_plot(
            0.0, values, feature_names=names, feature_order=feature_order, show=False
        )
        return [t.get_text() for t in ax.get_yticklabels()][::-1]

    assert top_down(None) == names[::-1]
    result = shap.decision_plot(
        0.0, values, feature_order=[3, 1, 0, 2, 5, 4], show=False, return_objects=True
    )
    assert list(result.feature_idx) == [3, 1, 0, 2, 5, 4]  # shap's: from the bottom up
    assert top_down([3, 1, 0, 2, 5, 4]) == ["f4", "f5", "f2", "f0", "f1", "f3"]
    clustered = top_down("hclust")
    assert abs(clustered.index("f1") - clustered.index("f5")) == 1
    with pytest.raises(ValueError, match="feature_order must order all 6"):
        top_down([0, 1])
