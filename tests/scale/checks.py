"""Checks shared by the scale-out tests: results equal to the local ones."""

from __future__ import annotations

from typing import Any

import numpy as np

import shapwise


def assert_same(got: Any, want: Any) -> None:
    """Equal to 1e-12 relative to the largest magnitude (float64 sums in another order)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * max(np.abs(want).max(), 1e-300))


def assert_same_explanation(got: Any, want: Any) -> None:
    assert isinstance(got, shapwise.Explanation)
    for field in ("values", "base_values", "data"):
        assert_same(getattr(got, field), getattr(want, field))
    assert got.feature_names == want.feature_names
    assert got.output_names == want.output_names
