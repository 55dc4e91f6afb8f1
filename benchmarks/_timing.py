"""A model wrapper that measures the time spent inside model calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np


class TimedModel:
    """Counts rows and seconds spent inside the model."""

    def __init__(self, predict: Callable[[np.ndarray], Any]) -> None:
        self.predict, self.seconds, self.rows = predict, 0.0, 0
        # Like the bound method it wraps, it names its estimator, so a library sees what it
        # would see if given the method itself.
        self.__self__ = getattr(predict, "__self__", None)

    def __call__(self, X: Any) -> Any:
        start = time.perf_counter()
        out = self.predict(np.asarray(X))
        self.seconds += time.perf_counter() - start
        self.rows += len(X)
        return out
