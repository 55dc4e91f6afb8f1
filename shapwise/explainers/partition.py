"""Owen values over a binary feature hierarchy, refined where they matter most within
``max_evals``: the terms with the largest |contribution| expanded first (as shap does), exact
Owen values where the budget expands them all. The recursion, and how half-precision models are
read, are in ``_owen``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shapwise import maskers
from shapwise.explainers._base import Estimate, ExplainerBase
from shapwise.explainers._game import CoalitionGame
from shapwise.explainers._owen import owen_by_groups
from shapwise.explainers._seeds import RowSeeds
from shapwise.links import Link
from shapwise.maskers._base import Masker
from shapwise.maskers._hierarchy import Hierarchy


class PartitionExplainer(ExplainerBase):
    """Owen values over the masker's feature hierarchy (``masker.clustering``).

    Exact when ``max_evals`` covers every term of the tree; otherwise the terms with the largest
    contribution are refined first. Always additive: values sum to v(full) - v(empty).

    Args:
        model: a function of a batch, a torch module, a Keras model or an sklearn estimator.
        masker: a masker with a hierarchy, e.g. ``maskers.Partition`` or ``maskers.Image``.
        link: 'identity' or 'logit'.
        linearize_link: with a non-identity link, average the linked outputs of the background rows
            with shap's linearising weights (see ``CoalitionGame``); True by default, as in shap.
        batch_size: the most rows passed to the model at once.
    """

    algorithm = "partition"

    def __init__(
        self,
        model: Any,
        masker: Any = None,
        link: str | Link = "identity",
        feature_names: list[str] | None = None,
        output_names: list[str] | None = None,
        batch_size: int | None = None,
        seed: int | None = None,
        linearize_link: bool = True,
    ) -> None:
        if masker is not None and not isinstance(masker, Masker) and not callable(masker):
            masker = maskers.Partition(masker)  # background data: cluster its features
        super().__init__(model, masker, link, feature_names, output_names, batch_size, seed)
        if not self.masker.has_hierarchy:
            raise ValueError(
                "the Partition explainer needs a masker with a feature hierarchy "
                "(maskers.Partition(background) for tables, maskers.Image(...) for images, "
                "maskers.Text() for texts)"
            )
        self.linearize_link = linearize_link
        self._hierarchy: tuple[Masker, Hierarchy] | None = None

    def default_max_evals(self, n_features: int) -> int:
        return 500

    def hierarchy(self, masker: Masker | None = None) -> Hierarchy:
        """The clustering of ``masker`` (default: the explainer's) as a :class:`Hierarchy`, built
        once per masker (a text's masker has its own)."""
        masker = self.masker if masker is None else masker
        cached = self._hierarchy  # read once: another thread may replace it meanwhile
        if cached is None or cached[0] is not masker:
            cached = self._hierarchy = (masker, Hierarchy(masker.clustering, masker.shape[1]))
        return cached[1]

    def estimate(
        self,
        game: CoalitionGame,
        max_evals: int,
        seeds: RowSeeds,
        done: Callable[[int], Any],
        **options: Any,
    ) -> Estimate:
        """Owen values of every row, rows refined together in groups (see ``_owen``)."""
        return owen_by_groups(game, self.hierarchy(game.masker), max_evals, self.link, done)


Partition = PartitionExplainer
