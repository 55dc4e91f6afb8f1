"""Explainers that are not Shapley-value estimators, kept for benchmarks as shap 0.51 keeps them:
``Random``, ``Coefficient`` and ``TreeGain``."""

from __future__ import annotations

from shapwise.explainers.other._baselines import Coefficient, Random, TreeGain

__all__ = ["Coefficient", "Random", "TreeGain"]
