"""``Impute``: hidden features take their expected value given the visible ones."""

from __future__ import annotations

from typing import Any

import numpy as np

from shapwise.maskers._base import Masker
from shapwise.numeric import check_finite, feature_names_of, to_numpy


class Impute(Masker):
    """Fills hidden features with their conditional mean given the visible features.

    With ``method="linear"`` the features are taken as jointly Gaussian with the background's
    mean and covariance, so a hidden set H given the visible set V becomes
    ``mean[H] + cov[H, V] @ pinv(cov[V, V]) @ (x[V] - mean[V])`` (one row per coalition).
    Correlated features thus carry information about each other, unlike with ``Independent``.

    Args:
        data: background rows (array or DataFrame), or shap's ``{"mean": ..., "cov": ...}``.
        method: only ``"linear"`` (Gaussian conditional means).
    """

    empty_is_constant = True

    def __init__(self, data: Any, method: str = "linear") -> None:
        if method != "linear":
            raise ValueError(f"Impute supports method='linear' only; got {method!r}")
        self.method = method
        if isinstance(data, dict):
            if "mean" not in data or "cov" not in data:
                raise ValueError(
                    "a dict for Impute needs both 'mean' and 'cov' (the features' means and "
                    f"covariance); got keys {sorted(data)}"
                )
            self.mean = to_numpy(data["mean"], name="the mean").astype(np.float64).reshape(-1)
            self.cov = to_numpy(data["cov"], name="the covariance").astype(np.float64)
            self.feature_names = None
        else:
            self.feature_names = feature_names_of(data)
            rows = to_numpy(data, name="the background data").astype(np.float64)
            if rows.ndim != 2 or len(rows) < 2:
                raise ValueError(
                    "Impute needs background rows of shape (rows, features) with at least two "
                    f"rows to estimate a covariance; got shape {rows.shape}"
                )
            check_finite(rows, "the background data")
            self.mean = rows.mean(axis=0)
            self.cov = np.atleast_2d(np.cov(rows, rowvar=False))
        n_features = len(self.mean)
        if self.cov.shape != (n_features, n_features):
            raise ValueError(
                f"the covariance must be ({n_features}, {n_features}) for {n_features} means; "
                f"got shape {self.cov.shape}"
            )
        check_finite(self.mean, "the mean")
        check_finite(self.cov, "the covariance")
        # no background rows: a hidden feature equal to its mean still changes with the others
        self.data = None
        self.shape = (1, n_features)

    def check_row(self, x: np.ndarray) -> None:
        if x.shape != (self.shape[1],):
            raise ValueError(
                f"a row to explain has shape {x.shape} but Impute was built for "
                f"{self.shape[1]} features; pass rows with the same features"
            )

    def imputed(self, mask: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``x`` with the features outside ``mask`` replaced by their conditional mean."""
        visible = np.flatnonzero(mask)
        hidden = np.flatnonzero(~mask)
        out = np.array(x, dtype=np.float64)
        if len(hidden) == 0:
            return out
        shift = np.zeros(len(hidden))
        if len(visible):
            # pinv: collinear or constant features have a singular covariance
            gain = self.cov[np.ix_(hidden, visible)] @ np.linalg.pinv(
                self.cov[np.ix_(visible, visible)]
            )
            shift = gain @ (out[visible] - self.mean[visible])
        out[hidden] = self.mean[hidden] + shift
        return out

    def masked_batch(self, masks: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Masked inputs (K, 1, features), in x's float dtype (float64 for integers)."""
        masks = np.asarray(masks, dtype=bool)
        x = np.asarray(x)
        if masks.ndim != 2 or masks.shape[1] != self.shape[1] or x.shape != (self.shape[1],):
            raise ValueError(
                f"masks of shape {masks.shape} and a row of shape {x.shape} do not fit Impute's "
                f"{self.shape[1]} features"
            )
        dtype = x.dtype if x.dtype.kind == "f" else np.float64
        rows = [self.imputed(mask, x) for mask in masks]
        return np.asarray(rows, dtype=dtype)[:, None, :]
