"""Keras Deep: computation that escapes the op table is either attributed exactly or named.

Truth used here: DeepLIFT's rescale rule written out in numpy for ``y = W2 g(W1 x + b1) + b2``, which
is exact (values + base value == output). ``tf.stop_gradient`` and ``tf.custom_gradient`` change what
training sees, not the forward function, so they are attributed exactly; an integer or boolean
tensor computed from the input (an argmax index, a comparison mask) is named in a ShapwiseWarning and
in the AdditivityError.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from shapwise.errors import AdditivityError, ShapwiseWarning  # noqa: E402
from shapwise.explainers.deep import DeepExplainer  # noqa: E402

FEATURES, HIDDEN, OUTPUTS = 5, 4, 2


class _Hidden(keras.layers.Layer):
    """Applies ``function`` (TensorFlow code) to the hidden layer."""

    def __init__(self, function, **kwargs) -> None:
        super().__init__(**kwargs)
        self.function = function

    def call(self, h):
        return self.function(h)


def _network(function) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((FEATURES,))
    first = keras.layers.Dense(HIDDEN, name="first")
    second = keras.layers.Dense(OUTPUTS, name="second")
    return keras.Model(inputs, second(_Hidden(function)(first(inputs))))


def _data() -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(3)
    bg = generator.normal(size=(6, FEATURES)).astype("float32")
    x = (generator.normal(size=(4, FEATURES)) * 1.5).astype("float32")
    return bg, x


def _rescale_values(model: keras.Model, g, x: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """DeepSHAP by the rescale rule, from its definition: (rows, features, outputs)."""
    w1, b1 = (np.asarray(w, dtype=np.float64) for w in model.get_layer("first").get_weights())
    w2, _ = (np.asarray(w, dtype=np.float64) for w in model.get_layer("second").get_weights())
    values = np.zeros((len(x), FEATURES, OUTPUTS))
    for r, row in enumerate(x.astype(np.float64)):
        for ref in bg.astype(np.float64):
            h, h_ref = row @ w1 + b1, ref @ w1 + b1
            slope = (g(h) - g(h_ref)) / (h - h_ref)
            values[r] += np.einsum("ij,j,jo,i->io", w1, slope, w2, row - ref)
    return values / len(bg)


@tf.custom_gradient
def _softsign_with_its_own_gradient(h):
    def gradient(upstream):
        return upstream / (1 + tf.abs(h)) ** 2

    return h / (1 + tf.abs(h)), gradient


def _straight_through_round(h):
    return h + tf.stop_gradient(tf.round(h) - h)


@pytest.mark.parametrize(
    ("function", "g"),
    [
        (_straight_through_round, np.round),
        (_softsign_with_its_own_gradient, lambda h: h / (1 + np.abs(h))),
    ],
    ids=["stop_gradient", "custom_gradient"],
)
def test_stop_gradient_and_custom_gradient_are_attributed_through(function, g):
    model = _network(function)
    bg, x = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShapwiseWarning)
        explainer = DeepExplainer(model, bg)
        values = explainer.shap_values(x)
    np.testing.assert_allclose(values, _rescale_values(model, g, x, bg), rtol=1e-4, atol=1e-5)
    total = values.sum(1) + explainer.expected_value
    np.testing.assert_allclose(total, model(x).numpy(), rtol=1e-5, atol=1e-5)


def _gather_at_argmax(h):
    largest = tf.gather(h, tf.argmax(h, axis=1), batch_dims=1)
    return tf.repeat(largest[:, None], HIDDEN, axis=1)


def _one_hot_of_argmax(h):
    return h * tf.one_hot(tf.argmax(h, axis=1), HIDDEN)


def _comparison_mask(h):
    return h * tf.cast(h > 0, h.dtype)  # relu written by hand


@pytest.mark.parametrize(
    ("function", "name"),
    [
        (_gather_at_argmax, "GatherV2 with an index"),
        (_one_hot_of_argmax, "OneHot with an index"),
        (_comparison_mask, "Cast with an integer or boolean input"),
    ],
    ids=["gather_at_argmax", "one_hot_of_argmax", "comparison_mask"],
)
def test_an_integer_or_boolean_tensor_computed_from_the_input_is_named(function, name):
    model = _network(function)
    bg, x = _data()
    with pytest.warns(ShapwiseWarning, match=name):
        explainer = DeepExplainer(model, bg)
    with pytest.raises(AdditivityError, match=name):
        explainer.shap_values(x)
    # the warning is not idle: the values do not add up
    values = explainer.shap_values(x, check_additivity=False)
    gap = np.abs(values.sum(1) + explainer.expected_value - model(x).numpy()).max()
    assert gap > 1e-3


def test_an_index_from_the_input_shape_only_stays_exact():
    # tf.shape depends on the input's shape, not its values: the gather below is plain linear.
    def reverse_by_gather(h):
        return tf.tanh(tf.gather(h, tf.range(tf.shape(h)[1] - 1, -1, -1), axis=1))

    model = _network(reverse_by_gather)
    bg, x = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShapwiseWarning)
        explainer = DeepExplainer(model, bg)
        values = explainer.shap_values(x)
    total = values.sum(1) + explainer.expected_value
    np.testing.assert_allclose(total, model(x).numpy(), rtol=1e-5, atol=1e-5)
