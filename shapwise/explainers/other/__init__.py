"""Explainers that are not Shapley-value estimators, kept for benchmarks as shap 0.51 keeps them:
``Random``, ``Coefficient``, ``TreeGain``, ``Maple`` and ``TreeMaple``, and ``LimeTabular`` (needs
the lime package, imported when it is built)."""

from __future__ import annotations

from shapwise.explainers.other._baselines import Coefficient, Random, TreeGain
from shapwise.explainers.other._lime import LimeTabular
from shapwise.explainers.other._maple import Maple, TreeMaple

__all__ = ["Coefficient", "LimeTabular", "Maple", "Random", "TreeGain", "TreeMaple"]
