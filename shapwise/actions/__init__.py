"""Actions that change an input, and the search for the cheapest set of them that makes a model's
predicate true (shap's experimental ``shap.actions``)."""

from __future__ import annotations

from shapwise.actions.action import Action
from shapwise.actions.optimizer import ActionOptimizer

__all__ = ["Action", "ActionOptimizer"]
