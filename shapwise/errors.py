"""Exceptions and warnings that callers may want to catch."""

from __future__ import annotations


class AdditivityError(ValueError):
    """The values plus the base value do not add up to the model output."""


class ShapwiseWarning(UserWarning):
    """Something was computed, but not exactly as asked (e.g. an op without an exact rule)."""
