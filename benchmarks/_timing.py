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

    def __call__(self, X: Any) -> Any:
        start = time.perf_counter()
        out = self.predict(np.asarray(X))
        self.seconds += time.perf_counter() - start
        self.rows += len(X)
        return out
