"""Link functions: the space in which explanations are additive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Link:
    """A named, invertible transform of model outputs."""

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return self.forward(values)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if np.any((p <= 0) | (p >= 1)):
        raise ValueError(
            "the logit link needs model outputs strictly between 0 and 1 (probabilities); "
            "use link='identity' for scores or raw outputs"
        )
    return np.log(p / (1.0 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def _as_float64(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, dtype=np.float64)


def _unchanged(v: np.ndarray) -> np.ndarray:
    return v


# Module-level functions, not lambdas: explainers holding a link pickle with the standard library.
identity = Link("identity", _as_float64, _unchanged)
logit = Link("logit", _logit, _sigmoid)


def get_link(link: str | Link | Callable | None) -> Link:
    """Resolve 'identity', 'logit', a Link, or a shap-style link function into a Link."""
    if link is None:
        return identity
    if isinstance(link, Link):
        return link
    if isinstance(link, str):
        known = {"identity": identity, "logit": logit}
        if link not in known:
            raise ValueError(f"unknown link {link!r}; use 'identity' or 'logit'")
        return known[link]
    name = getattr(link, "__name__", "")
    if name in ("identity", "logit"):
        return get_link(name)
    if callable(link) and callable(getattr(link, "inverse", None)):
        return Link(name or "custom", link, link.inverse)
    raise TypeError("link must be 'identity', 'logit' or a function with an .inverse attribute")
