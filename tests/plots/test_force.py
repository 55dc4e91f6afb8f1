"""Force: red and blue segments meet at f(x); widths are the values."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise import plots
from tests.plots.drawing import all_texts, render


def test_force_segments_meet_at_the_output(diabetes_explanation, tmp_path):
    row = diabetes_explanation[2]
    ax = plots.force(row, show=False)
    render(ax.figure, tmp_path / "force.png")
    output = float(row.output_values)
    segments = ax.patches
    assert len(segments) == np.count_nonzero(row.values)
    assert sorted(s.get_width() for s in segments) == pytest.approx(sorted(np.abs(row.values)))
    red = [s for s in segments if s.get_facecolor()[0] > 0.9]  # RED = #ff0051
    blue = [s for s in segments if s.get_facecolor()[0] < 0.1]  # BLUE = #008bfb
    assert len(red) == (row.values > 0).sum() and len(blue) == (row.values < 0).sum()
    assert max(s.get_x() + s.get_width() for s in red) == pytest.approx(output)
    assert min(s.get_x() for s in blue) == pytest.approx(output)
    texts = all_texts(ax.figure)
    assert f"f(x) = {output:.4g}" in texts
    assert f"base value\n{float(row.base_values):.4g}" in texts


def test_force_of_many_rows_is_the_stacked_plot(diabetes_explanation, digits_explanation):
    from shapwise.plots.stacked_force import StackedForcePlot

    stacked = plots.force(diabetes_explanation, show=False)
    assert isinstance(stacked, StackedForcePlot)
    np.testing.assert_allclose(stacked.outputs, diabetes_explanation.output_values)
    with pytest.raises(ValueError, match="3 outputs"):
        plots.force(digits_explanation, show=False)
