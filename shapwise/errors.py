"""Exceptions and warnings that callers may want to catch."""

from __future__ import annotations


class AdditivityError(ValueError, AssertionError):
    """The values plus the base value do not add up to the model output.

    Also an AssertionError, the type shap raises for this, so code that catches shap's error
    (``except AssertionError``) keeps working.
    """


class ShapwiseWarning(UserWarning):
    """Something was computed, but not exactly as asked (e.g. an op without an exact rule)."""


# shap's exception types (shap.utils._exceptions), so code that catches them keeps working.
# Each subclasses the builtin type shapwise raised for the same mistake before, so code that
# catches ValueError keeps working too.
class DimensionError(ValueError):
    """An input has a shape or number of dimensions that does not fit (e.g. not the background's)."""


class InvalidAction(ValueError):
    """An action given to an action optimizer is not an Action."""


class ConvergenceError(RuntimeError):
    """An iterative computation did not converge."""


class InvalidMaskerError(ValueError):
    """The masker cannot be used with this explainer or these inputs."""


class ExplainerError(RuntimeError):
    """Something went wrong while explaining."""


class InvalidAlgorithmError(ValueError):
    """The ``algorithm=`` asked for is unknown or does not fit the masker."""


class InvalidFeaturePerturbationError(ValueError):
    """The ``feature_perturbation=`` asked for is unknown."""


class InvalidModelError(ValueError):
    """The model is not one this explainer can explain."""


class InvalidClusteringError(ValueError):
    """The clustering is neither a distance metric name nor a linkage matrix."""


class InvalidStyleOptionError(ValueError):
    """A plot style option is unknown."""
