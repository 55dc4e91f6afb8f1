"""shapwise: Shapley-value explanations that stay exact for modern deep networks and any precision.

Importing shapwise is light: torch, tensorflow and matplotlib load only when a feature needs them.
"""

from __future__ import annotations

import importlib
from typing import Any

from shapwise import links, maskers
from shapwise.errors import AdditivityError, ShapwiseWarning
from shapwise.explainers import Explainer
from shapwise.explanation import Cohorts, Explanation

# Imported eagerly (it is light): a lazy name would be shadowed by the submodule shapwise.report
# as soon as anything imported from it.
from shapwise.report import report

__version__ = "0.1.0"

# Names loaded on first use: (module, attribute); attribute None means the module itself.
_LAZY = {
    "explainers": ("shapwise.explainers", None),
    "plots": ("shapwise.plots", None),
    "models": ("shapwise.models", None),
    "ExactExplainer": ("shapwise.explainers.exact", "ExactExplainer"),
    "PermutationExplainer": ("shapwise.explainers.permutation", "PermutationExplainer"),
    "PartitionExplainer": ("shapwise.explainers.partition", "PartitionExplainer"),
    "KernelExplainer": ("shapwise.explainers.kernel", "KernelExplainer"),
    "LinearExplainer": ("shapwise.explainers.linear", "LinearExplainer"),
    "DeepExplainer": ("shapwise.explainers.deep", "DeepExplainer"),
    "GradientExplainer": ("shapwise.explainers.gradient", "GradientExplainer"),
    "TreeExplainer": ("shapwise.explainers.tree", "TreeExplainer"),
    "GPUTreeExplainer": ("shapwise.explainers.tree", "TreeExplainer"),  # the same values, on CPU
    "other": ("shapwise.explainers.other", None),
    "AdditiveExplainer": ("shapwise.explainers.additive", "AdditiveExplainer"),
    "SamplingExplainer": ("shapwise.explainers.sampling", "SamplingExplainer"),
    "CoalitionExplainer": ("shapwise.explainers.coalition", "CoalitionExplainer"),
    "summary_plot": ("shapwise.plots.legacy", "summary_plot"),
    "dependence_plot": ("shapwise.plots.legacy", "dependence_plot"),
    "force_plot": ("shapwise.plots.legacy", "force_plot"),
    "image_plot": ("shapwise.plots.legacy", "image_plot"),
    "bar_plot": ("shapwise.plots.legacy", "bar_plot"),
    "decision_plot": ("shapwise.plots.legacy", "decision_plot"),
    "embedding_plot": ("shapwise.plots.legacy", "embedding_plot"),
    "group_difference_plot": ("shapwise.plots.legacy", "group_difference_plot"),
    "heatmap_plot": ("shapwise.plots.legacy", "heatmap_plot"),
    "monitoring_plot": ("shapwise.plots.legacy", "monitoring_plot"),
    "multioutput_decision_plot": ("shapwise.plots.legacy", "multioutput_decision_plot"),
    "partial_dependence_plot": ("shapwise.plots.legacy", "partial_dependence_plot"),
    "text_plot": ("shapwise.plots.legacy", "text_plot"),
    "violin_plot": ("shapwise.plots.legacy", "violin_plot"),
    "waterfall_plot": ("shapwise.plots.legacy", "waterfall_plot"),
    "initjs": ("shapwise.plots.notebook", "initjs"),
    "getjs": ("shapwise.plots.notebook", "getjs"),
    "save_html": ("shapwise.plots.notebook", "save_html"),
    "have_matplotlib": ("shapwise.plots.notebook", "have_matplotlib"),
    "utils": ("shapwise.utils", None),
    "datasets": ("shapwise.datasets", None),
    "approximate_interactions": ("shapwise.utils.interactions", "approximate_interactions"),
    "kmeans": ("shapwise.background", "kmeans"),
    "actions": ("shapwise.actions", None),
    "ActionOptimizer": ("shapwise.actions.optimizer", "ActionOptimizer"),
    "unsupported": ("shapwise.utils._unsupported", "unsupported"),
    "UnsupportedModule": ("shapwise.utils._unsupported", "UnsupportedModule"),
    "sample": ("shapwise.background", "sample"),
    "spark": ("shapwise.spark", None),  # pyspark itself loads on the first explain()
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        loaded = importlib.import_module(module)
        return loaded if attribute is None else getattr(loaded, attribute)
    raise AttributeError(f"module 'shapwise' has no attribute {name!r}")


__all__ = [
    "AdditivityError",
    "Cohorts",
    "Explainer",
    "Explanation",
    "ShapwiseWarning",
    "links",
    "maskers",
    "report",
    *_LAZY,
]
