"""``ActionOptimizer``: the cheapest set of actions after which a model's predicate holds."""

from __future__ import annotations

import copy
import heapq
import itertools
from typing import Any

from shapwise.actions.action import Action, check_cost
from shapwise.errors import ConvergenceError, InvalidAction


class ActionOptimizer:
    """Finds the cheapest set of actions that makes ``model(*inputs)`` true.

    Actions come in groups: a single :class:`Action` is a group of its own, a list of actions is
    a group of alternatives of which at most one is taken (e.g. "raise income by 5k" or "by 10k").
    Sets of actions are tried in order of total cost (a uniform-cost search over the choice in
    each group), so the first set that makes the predicate true is a cheapest one; between sets
    of equal cost the one found first wins.

    Args:
        model: the predicate, called with the changed inputs; a truthy result is success.
        actions: a list whose entries are actions or lists of mutually exclusive actions.
    """

    def __init__(self, model: Any, actions: list[Action | list[Action]]) -> None:
        self.action_groups: list[list[Action]] = []
        for entry in actions:
            group = entry if isinstance(entry, list) else [entry]
            if not group or not all(isinstance(action, Action) for action in group):
                raise InvalidAction(
                    "A passed action was not an Action or list of actions! Each entry must be an "
                    f"Action or a non-empty list of them; got {entry!r}"
                )
            for action in group:  # subclasses may set their cost without Action.__init__
                try:
                    check_cost(getattr(action, "cost", None))
                except (TypeError, ValueError) as error:
                    raise InvalidAction(
                        f"the action {action} has no usable cost: {error}"
                    ) from None
            self.action_groups.append(sorted(group, key=lambda action: action.cost))
        if not callable(model):
            raise TypeError(f"model must be a callable predicate; got {type(model).__name__}")
        self.model = model

    def __call__(self, *args: Any, max_evals: int = 10000) -> list[Action] | None:
        """The cheapest list of actions (in group order) after which ``model(*args)`` is true:
        ``[]`` if it already is, None if no set of actions makes it true.

        The inputs ``args`` are never changed: each evaluation applies its actions to copies.

        Raises:
            ConvergenceError: more than ``max_evals`` sets had to be evaluated.
        """
        start = (-1,) * len(self.action_groups)  # the action chosen in each group (-1: none)
        order = itertools.count()
        queue = [(0.0, next(order), start)]
        seen = {start}
        evaluations = 0
        while queue:
            _, _, choice = heapq.heappop(queue)
            evaluations += 1
            if evaluations > max_evals:
                raise ConvergenceError(
                    f"Failed to find a solution with max_evals={max_evals}! Try reducing the "
                    "number of actions or increasing max_evals."
                )
            chosen = self._actions(choice)
            changed = copy.deepcopy(args)
            for action in chosen:
                action(*changed)
            if self.model(*changed):
                return chosen
            for next_choice in self._next_choices(choice):
                if next_choice not in seen:
                    seen.add(next_choice)
                    cost = sum(action.cost for action in self._actions(next_choice))
                    heapq.heappush(queue, (cost, next(order), next_choice))
        return None

    def _actions(self, choice: tuple[int, ...]) -> list[Action]:
        return [group[i] for group, i in zip(self.action_groups, choice, strict=True) if i >= 0]

    def _next_choices(self, choice: tuple[int, ...]) -> list[tuple[int, ...]]:
        """Each choice one step dearer: one more group's cheapest action, or one group's action
        replaced by the next dearer one of its group."""
        following = []
        for g, i in enumerate(choice):
            if i + 1 < len(self.action_groups[g]):
                following.append((*choice[:g], i + 1, *choice[g + 1 :]))
        return following
