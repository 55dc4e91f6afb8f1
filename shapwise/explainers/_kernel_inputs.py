"""What KernelExplainer takes the way shap 0.51 takes it: sparse matrices, a model of DataFrames
(``keep_index``), the logit link on probabilities of exactly 0 or 1, and shap's ``not_equal``."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from shapwise.links import Link, get_link

# shap's Kernel link reads probabilities within this of 0 or 1 as this far from them.
LOGIT_CLIP = 1e-15


def _clipped_logit(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if np.any((p < 0) | (p > 1)):
        raise ValueError(
            "the logit link needs model outputs strictly between 0 and 1 (probabilities; "
            "exactly 0 or 1 are read as 1e-15 from them); got outputs outside [0, 1]: use "
            "link='identity' for scores or raw outputs"
        )
    p = np.clip(p, LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    return np.log(p / (1.0 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


# Module-level functions: explainers holding this link pickle with the standard library.
clipped_logit = Link("logit", _clipped_logit, _sigmoid)


def kernel_link(link: Any) -> Link:
    """The link, with 'logit' clipping probabilities to [1e-15, 1 - 1e-15] as shap's Kernel
    explainer does (a classifier that is certain still gets finite log-odds)."""
    resolved = get_link(link)
    return clipped_logit if resolved.name == "logit" else resolved


def is_sparse(data: Any) -> bool:
    """Whether ``data`` is a scipy sparse matrix or array (checked without importing scipy)."""
    return type(data).__module__.startswith("scipy.sparse") and hasattr(data, "toarray")


def dense(data: Any) -> Any:
    """A scipy sparse matrix (CSR, CSC, LIL, ...) as a dense numpy array; anything else as is."""
    return np.asarray(data.toarray()) if is_sparse(data) else data


class FrameModel:
    """A model of DataFrames (shap's ``keep_index=True``): each batch of rows reaches it as a
    DataFrame with the background's column labels."""

    def __init__(self, model: Any, columns: list[Any]) -> None:
        self.model = model
        self.columns = list(columns)

    def __call__(self, X: np.ndarray) -> Any:
        import pandas as pd

        return self.model(pd.DataFrame(X, columns=self.columns))


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(np.isnan(value))
    except (TypeError, ValueError):
        return False


def not_equal(i: Any, j: Any) -> int:
    """1 when two feature values differ, else 0 (shap's ``KernelExplainer.not_equal``): numbers
    compare by value whatever their type, missing values (None, NaN) equal each other and no
    value, strings and other objects by ``==``."""
    if _missing(i) or _missing(j):
        return 0 if _missing(i) and _missing(j) else 1
    numbers = (int, float, np.number, bool, np.bool_)
    if isinstance(i, numbers) and isinstance(j, numbers):
        return int(float(i) != float(j))
    return 0 if i == j else 1


def is_text_array(data: Any) -> bool:
    """A numpy array of strings or other objects that are not numbers (shap's Kernel explainer
    takes these, for models that encode them)."""
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "USO":
        return False
    try:
        data.astype(np.float64)
    except (TypeError, ValueError):
        return True
    return False


def as_frame(data: np.ndarray) -> Any:
    """A 2-D array of strings or objects as a DataFrame of object columns 0..M-1 (a table of
    mixed types, masked by copying values); a 1-D array as a one-row DataFrame."""
    import pandas as pd

    return pd.DataFrame(np.asarray(data, dtype=object).reshape(-1, data.shape[-1]))


class ArrayModel:
    """A model of numpy arrays of strings or objects, fed from the DataFrames a table of mixed
    types reaches models as: each batch goes back to an array of the background's dtype."""

    def __init__(self, model: Any, dtype: np.dtype) -> None:
        self.model = model
        self.dtype = dtype

    def __call__(self, frame: Any) -> Any:
        return self.model(np.asarray(np.asarray(frame, dtype=object), dtype=self.dtype))


NUM_FEATURES = re.compile(r"^(?:num_features|rank)\((\d+)\)$")


def check_l1_reg(l1_reg: Any) -> Any:
    """Validate an ``l1_reg`` option; returns it unchanged (False for None/0)."""
    if l1_reg is None or l1_reg is False or (isinstance(l1_reg, (int, float)) and l1_reg == 0):
        return False
    if isinstance(l1_reg, str):
        if l1_reg in ("auto", "aic", "bic") or NUM_FEATURES.match(l1_reg):
            return l1_reg
    elif isinstance(l1_reg, (int, float)) and not isinstance(l1_reg, bool) and l1_reg > 0:
        return float(l1_reg)
    raise ValueError(
        f"unknown l1_reg {l1_reg!r}; use False, 'auto', 'aic', 'bic', 'num_features(k)' "
        "(or 'rank(k)') or a positive float (the Lasso alpha)"
    )
