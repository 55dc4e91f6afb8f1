"""shap's older plotting functions draw through the Explanation plots."""

from __future__ import annotations

import numpy as np
import pytest

import shapwise as shap
from tests.plots.drawing import all_texts, tick_labels


def test_summary_plot_dot_and_bar(diabetes_explanation):
    values, data = diabetes_explanation.values, diabetes_explanation.data
    names = diabetes_explanation.feature_names
    ax = shap.summary_plot(values, data, feature_names=names, max_display=5, show=False)
    top = names[int(np.argmax(np.abs(values).mean(0)))]
    assert tick_labels(ax)[-1] == top and tick_labels(ax)[0] == "Sum of 6 other features"
    ax = shap.summary_plot(values, feature_names=names, plot_type="bar", show=False)
    assert len(ax.patches) == 10
    with pytest.raises(ValueError, match="Pass one of them, e.g. shap_values\\[1\\]"):
        shap.summary_plot([values, values], data, show=False)
    with pytest.raises(ValueError, match="plot_type must be 'dot' or 'bar'"):
        shap.summary_plot(values, data, plot_type="violin", show=False)


def test_dependence_plot_names_and_colour(diabetes_explanation):
    values, data = diabetes_explanation.values, diabetes_explanation.data
    names = diabetes_explanation.feature_names
    ax = shap.dependence_plot(
        "bmi", values, data, feature_names=names, interaction_index="age", show=False
    )
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 0], data[:, names.index("bmi")])
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], values[:, names.index("bmi")])
    assert "age" in all_texts(ax.figure)


def test_force_plot_one_row(diabetes_explanation):
    row = diabetes_explanation[0]
    ax = shap.force_plot(
        row.base_values, row.values, row.data, feature_names=row.feature_names, show=False
    )
    assert any("f(x)" in t for t in all_texts(ax.figure))
    with pytest.raises(ValueError, match="force_plot draws one row"):
        shap.force_plot(0.0, diabetes_explanation.values, show=False)


def test_image_plot_list_per_output(digits_explanation):
    values = digits_explanation.values  # (N, H, W, C, O)
    per_output = [values[..., k] for k in range(values.shape[-1])]
    figure = shap.image_plot(per_output, digits_explanation.data, show=False)
    n_rows = min(len(values), 8)
    assert len(figure.axes) >= n_rows * (1 + values.shape[-1])
