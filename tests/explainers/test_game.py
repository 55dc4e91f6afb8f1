"""The coalition game: v(S) of masks, the empty coalition evaluated once, the linearised link."""

from __future__ import annotations

import numpy as np

from shapwise.explainers._game import CoalitionGame
from shapwise.links import logit
from shapwise.maskers import Independent
from shapwise.models import as_model


def _probabilities(X):
    return 1.0 / (1.0 + np.exp(-X.sum(axis=1)))


def test_values_of_masks_that_are_all_empty():
    rng = np.random.default_rng(0)
    background, x = rng.normal(size=(7, 3)), rng.normal(size=3)
    mean = _probabilities(background).mean()
    empty = np.zeros((2, 3), dtype=bool)
    for linearize in (False, True):
        model = as_model(_probabilities)
        game = CoalitionGame(
            model, Independent(background), x[None], logit, linearize_link=linearize
        )
        np.testing.assert_allclose(game.values(empty)[:, 0], np.log(mean / (1 - mean)), rtol=1e-12)
        # asked again in the same explanation: no new model call
        evaluations = model.n_evaluations
        np.testing.assert_allclose(game.values(empty[:1]), game.values(empty)[:1], rtol=0)
        assert model.n_evaluations == evaluations
