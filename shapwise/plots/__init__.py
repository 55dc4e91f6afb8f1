"""Plots of explanations (matplotlib, from the ``plots`` extra; ``text`` returns HTML).

Each plot takes an :class:`~shapwise.Explanation`, accepts ``show=False`` and returns what it drew:
the Axes, or the Figure for multi-panel plots (``image``).
"""

from __future__ import annotations

from shapwise.plots.bar import bar
from shapwise.plots.beeswarm import beeswarm
from shapwise.plots.decision import decision
from shapwise.plots.force import force
from shapwise.plots.heatmap import heatmap
from shapwise.plots.image import image
from shapwise.plots.scatter import scatter
from shapwise.plots.text import text
from shapwise.plots.waterfall import waterfall

__all__ = [
    "bar",
    "beeswarm",
    "decision",
    "force",
    "heatmap",
    "image",
    "scatter",
    "text",
    "waterfall",
]
