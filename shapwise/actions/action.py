"""``Action``: one change to a model's inputs, with what it costs."""

from __future__ import annotations

import math
from typing import Any


def check_cost(cost: Any) -> None:
    """Raise a TypeError / ValueError unless ``cost`` is a finite number >= 0."""
    if isinstance(cost, bool) or not isinstance(cost, (int, float)):
        raise TypeError(f"an action's cost must be a number; got {cost!r}")
    if not math.isfinite(cost) or cost < 0:
        raise ValueError(
            f"an action's cost must be a finite number >= 0 (the search takes cheaper sets "
            f"first); got {cost}"
        )


class Action:
    """A change to a model's inputs that costs ``cost``: subclasses implement ``__call__(*args)``,
    which changes the inputs in place (the optimiser hands each evaluation its own copies).

    Args:
        cost: what taking the action costs, a finite number >= 0.
    """

    # shap's bookkeeping attributes (the optimiser keeps its groups itself)
    _group_index = 0
    _grouped_index = 0

    def __init__(self, cost: float) -> None:
        check_cost(cost)
        self.cost = cost

    def __call__(self, *args: Any) -> None:
        raise NotImplementedError(
            f"{type(self).__name__} must implement __call__(*args), changing the inputs in place"
        )

    def __lt__(self, other: Action) -> bool:
        return self.cost < other.cost

    def __str__(self) -> str:
        return f"{type(self).__name__}(cost={self.cost})"

    def __repr__(self) -> str:
        return f"<Action '{self}'>"
