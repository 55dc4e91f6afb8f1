"""Bar: global mean |value|, one row's signed values, and cohorts side by side."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise import plots
from tests.plots.drawing import render, tick_labels


def test_global_bar_shows_mean_absolute_values(diabetes_explanation, tmp_path):
    ax = plots.bar(diabetes_explanation, max_display=5, show=False)
    render(ax.figure, tmp_path / "bar.png")
    importance = np.abs(diabetes_explanation.values).mean(axis=0)
    order = np.argsort(-importance)
    assert len(ax.patches) == 5
    labels = tick_labels(ax)
    # Tick labels are listed bottom to top; the largest bar is at the top.
    assert labels[::-1][:4] == [diabetes_explanation.feature_names[i] for i in order[:4]]
    assert labels[0] == "Sum of 6 other features"
    widths = sorted((bar.get_width() for bar in ax.patches), reverse=True)
    assert widths[0] == pytest.approx(importance[order[0]])
    assert sum(bar.get_width() for bar in ax.patches) == pytest.approx(importance.sum())
    assert ax.get_xlabel() == "mean(|SHAP value|)"


def test_local_bar_shows_signed_values_with_data(diabetes_explanation):
    row = diabetes_explanation[1]
    ax = plots.bar(row, max_display=20, show=False)
    assert len(ax.patches) == 10
    assert sorted(bar.get_width() for bar in ax.patches) == pytest.approx(sorted(row.values))
    assert all(" = " in label for label in tick_labels(ax))
    assert ax.get_xlabel() == "SHAP value"


def test_bar_of_a_reduced_explanation_is_drawn_as_given(diabetes_explanation):
    reduced = diabetes_explanation.abs.max(0)
    ax = plots.bar(reduced, max_display=20, show=False)
    assert max(bar.get_width() for bar in ax.patches) == pytest.approx(reduced.values.max())


def test_cohort_bars_one_bar_per_cohort_and_feature(diabetes_explanation, tmp_path):
    labels = np.where(diabetes_explanation.data[:, 1] > 0, "male", "female")
    cohorts = diabetes_explanation.cohorts(labels)
    ax = plots.bar(cohorts, max_display=4, show=False)
    render(ax.figure, tmp_path / "cohorts.png")
    assert len(ax.patches) == 2 * 4
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert len(legend) == 2
    assert f"female ({int((labels == 'female').sum())} rows)" in legend


def test_bar_multi_output_asks_to_pick_one(iris_explanation):
    with pytest.raises(ValueError, match="setosa"):
        plots.bar(iris_explanation, show=False)
    ax = plots.bar(iris_explanation[..., 0], show=False)
    assert len(ax.patches) == 4


def test_order_as_in_shap(diabetes_explanation):
    from shapwise import Explanation

    by_max = np.argsort(-np.abs(diabetes_explanation.values).max(axis=0))
    names = diabetes_explanation.feature_names
    ax = plots.bar(diabetes_explanation, max_display=4, order=Explanation.abs.max(0), show=False)
    assert tick_labels(ax)[::-1][:3] == [names[i] for i in by_max[:3]]
    reverse = np.arange(len(names))[::-1]  # an explicit ordering of positions
    ax = plots.bar(diabetes_explanation, max_display=4, order=reverse, show=False)
    assert tick_labels(ax)[::-1][:3] == [names[i] for i in reverse[:3]]
    with pytest.raises(ValueError, match="one entry per feature"):
        plots.bar(diabetes_explanation, order=np.arange(3), show=False)
