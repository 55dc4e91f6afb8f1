"""Small helpers shap code calls from ``shap.utils``: type checks without imports, optional
imports, Shapley weights, names and number formatting."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from math import comb
from typing import Any

import numpy as np

_import_errors: dict[str, tuple[str, Exception]] = {}


def safe_isinstance(obj: Any, class_path_str: str | list[str] | tuple[str, ...]) -> bool:
    """``isinstance(obj, cls)`` for classes named by their full path (``"sklearn.svm.SVC"``),
    without importing their package: a package that is not loaded cannot own ``obj``."""
    paths = [class_path_str] if isinstance(class_path_str, str) else list(class_path_str)
    for path in paths:
        if not isinstance(path, str) or "." not in path:
            raise ValueError(
                "class_path_str must be a full path to a class, or a list of them, e.g. "
                f"'sklearn.ensemble.RandomForestRegressor'; got {path!r}"
            )
        module_name, class_name = path.rsplit(".", 1)
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type) and isinstance(obj, cls):
            return True
    return False


def record_import_error(package_name: str, msg: str, e: ImportError) -> None:
    """Remember that an optional package failed to import, to re-raise when it is needed."""
    _import_errors[package_name] = (msg, e)


def assert_import(package_name: str) -> None:
    """Raise the import error recorded for ``package_name`` (with its message), if any."""
    if package_name in _import_errors:
        msg, error = _import_errors[package_name]
        raise ImportError(f"{msg} ({error})") from error


def shapley_coefficients(n: int) -> np.ndarray:
    """The Shapley weight of a coalition of each size s = 0..n-1 (of the n-1 other players):
    ``1 / (n * C(n-1, s)) = s! (n-1-s)! / n!``."""
    return np.array([1.0 / (n * comb(n - 1, size)) for size in range(n)])


def convert_name(ind: Any, shap_values: Any, input_names: Any) -> Any:
    """A feature position from a name, ``"rank(k)"`` (the k-th most important) or ``"sum()"``."""
    if not isinstance(ind, str):
        return ind
    names = [str(n) for n in input_names] if input_names is not None else []
    if ind in names:
        return names.index(ind)
    if ind.startswith("rank(") and ind.endswith(")"):
        if shap_values is None:
            raise ValueError("rank(k) needs the shap values to rank the features by")
        importance = np.abs(np.asarray(shap_values)).mean(0)
        return int(np.argsort(-importance, kind="stable")[int(ind[5:-1])])
    if ind == "sum()":
        return ind
    raise ValueError(f"Could not find feature named: {ind} (features: {names[:10]})")


def format_value(s: Any, format_str: str) -> str:
    """A number formatted with ``format_str``, without trailing zeros, with a real minus sign."""
    text = s if isinstance(s, str) else format_str % s
    text = re.sub(r"\.?0+$", "", text)
    return "\u2212" + text[1:] if text.startswith("-") else text


def ordinal_str(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st, ..."""
    if 10 <= n % 100 < 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def sample(X: Any, nsamples: int = 100, random_state: int = 0) -> Any:
    """``nsamples`` rows of ``X`` drawn without replacement, in the type given (shap's
    signature of :func:`shapwise.sample`); all of them when ``X`` has no more."""
    from shapwise.background import sample as sample_rows

    return sample_rows(X, nsamples, random_state)


@contextmanager
def suppress_stderr() -> Iterator[None]:
    """Silence what is written to ``sys.stderr`` inside the block."""
    saved = sys.stderr
    with open(os.devnull, "w") as devnull:
        sys.stderr = devnull
        try:
            yield
        finally:
            sys.stderr = saved


def show_progress(
    iterable: Iterable[Any],
    total: int | None = None,
    desc: str | None = None,
    silent: bool = False,
    start_delay: float = 10,
) -> Iterator[Any]:
    """``iterable`` with a progress bar that appears only after ``start_delay`` seconds."""
    from tqdm.auto import tqdm

    return iter(tqdm(iterable, total=total, desc=desc, disable=silent, delay=start_delay))
