"""Decision: each line runs from the base value to the row's output."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise import plots
from tests.plots.drawing import render, tick_labels


def test_decision_lines_end_at_the_outputs(diabetes_explanation, tmp_path):
    ax = plots.decision(diabetes_explanation, max_display=6, show=False)
    render(ax.figure, tmp_path / "decision.png")
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) > 2]
    assert len(lines) == len(diabetes_explanation)
    ends = np.array([line.get_xdata()[-1] for line in lines])
    starts = np.array([line.get_xdata()[0] for line in lines])
    np.testing.assert_allclose(ends, diabetes_explanation.output_values, atol=1e-6)
    np.testing.assert_allclose(starts, diabetes_explanation.base_values, atol=1e-9)
    labels = tick_labels(ax)
    assert len(labels) == 6 and labels[0] == "Sum of 5 other features"


def test_decision_of_one_row(diabetes_explanation):
    ax = plots.decision(diabetes_explanation[0], show=False)
    (line,) = [line for line in ax.get_lines() if len(line.get_xdata()) > 2]
    assert line.get_xdata()[-1] == pytest.approx(float(diabetes_explanation[0].output_values))
