"""Tree SHAP: exact values of tree ensembles from one node table, computed by a compiled core."""

from __future__ import annotations

from .explainer import Tree, TreeExplainer

__all__ = ["Tree", "TreeExplainer"]
