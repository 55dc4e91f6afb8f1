"""Plots of explanations (matplotlib, from the ``plots`` extra; ``text`` returns HTML).

Each plot takes an :class:`~shapwise.Explanation` (several also take shap's arrays), accepts
``show=False`` and returns what it drew: the Axes, or the Figure for multi-panel plots
(``image``); ``partial_dependence`` returns (figure, axes) as shap's does. ``colors`` holds shap's
colours and colormaps (loading it loads matplotlib).
"""

from __future__ import annotations

import importlib
from typing import Any

from shapwise.explanation import Explanation
from shapwise.plots import decision as _decision
from shapwise.plots.bar import bar
from shapwise.plots.beeswarm import beeswarm
from shapwise.plots.embedding import embedding
from shapwise.plots.force import force
from shapwise.plots.group_difference import group_difference
from shapwise.plots.heatmap import heatmap
from shapwise.plots.image import image
from shapwise.plots.image_to_text import image_to_text
from shapwise.plots.monitoring import monitoring
from shapwise.plots.notebook import initjs
from shapwise.plots.partial_dependence import partial_dependence
from shapwise.plots.scatter import scatter
from shapwise.plots.text import text
from shapwise.plots.violin import violin
from shapwise.plots.waterfall import waterfall


def decision(explanation: Any, *args: Any, **kwargs: Any) -> Any:
    """The decision plot of an Explanation (see :func:`shapwise.plots.decision.decision`: its
    ``max_display``, ``show``, ``ax`` and ``order``); or, as shap 0.51's ``plots.decision`` is
    its legacy plot, ``decision(base_value, shap_values, features, ...)`` with
    :func:`~shapwise.plots.legacy.decision_plot`'s arguments."""
    if isinstance(explanation, Explanation):
        return _decision.decision(explanation, *args, **kwargs)
    from shapwise.plots.legacy import decision_plot

    return decision_plot(explanation, *args, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "colors":  # builds matplotlib colormaps, so only on first use
        return importlib.import_module("shapwise.plots.colors")
    raise AttributeError(f"module 'shapwise.plots' has no attribute {name!r}")


__all__ = [
    "bar",
    "beeswarm",
    "colors",
    "decision",
    "embedding",
    "force",
    "group_difference",
    "heatmap",
    "image",
    "image_to_text",
    "initjs",
    "monitoring",
    "partial_dependence",
    "scatter",
    "text",
    "violin",
    "waterfall",
]
