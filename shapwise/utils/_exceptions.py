"""shap's exception types, where shap code imports them from (``shap.utils._exceptions``)."""

from __future__ import annotations

from shapwise.errors import (
    ConvergenceError,
    DimensionError,
    ExplainerError,
    InvalidAction,
    InvalidAlgorithmError,
    InvalidClusteringError,
    InvalidFeaturePerturbationError,
    InvalidMaskerError,
    InvalidModelError,
    InvalidStyleOptionError,
)

__all__ = [
    "ConvergenceError",
    "DimensionError",
    "ExplainerError",
    "InvalidAction",
    "InvalidAlgorithmError",
    "InvalidClusteringError",
    "InvalidFeaturePerturbationError",
    "InvalidMaskerError",
    "InvalidModelError",
    "InvalidStyleOptionError",
]
