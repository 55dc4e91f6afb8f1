"""``shap.explainers.tf_utils`` with ``import shapwise as shap`` on small Keras 3 models: the
tensors it returns are the model's own and compute what the model computes; TensorFlow 1's
sessions and graphs get a clear error."""

from __future__ import annotations

import numpy as np
import pytest

import shapwise as shap

keras = pytest.importorskip("keras")
tf_utils = shap.explainers.tf_utils


@pytest.fixture(scope="module")
def two_in_two_out():
    left, right = keras.Input((3,)), keras.Input((2,))
    joined = keras.layers.Concatenate()([left, right])
    first = keras.layers.Dense(1, name="first")(joined)
    second = keras.layers.Dense(2, name="second")(joined)
    return keras.Model([left, right], [first, second])


def test_inputs_and_output_of_a_functional_model(two_in_two_out):
    model = two_in_two_out
    inputs = tf_utils._get_model_inputs(model)
    assert [tuple(t.shape) for t in inputs] == [(None, 3), (None, 2)]
    assert all(ours is theirs for ours, theirs in zip(inputs, model.inputs, strict=True))
    with pytest.warns(UserWarning, match="Only one model output supported"):
        output = tf_utils._get_model_output(model)
    assert output is model.outputs[0]
    rng = np.random.default_rng(0)
    left, right = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    kernel, bias = model.get_layer("first").get_weights()
    closed_form = np.concatenate([left, right], axis=1) @ kernel + bias  # Dense by hand
    predicted = keras.Model(inputs, output).predict([left, right], verbose=0)
    np.testing.assert_allclose(predicted, closed_form, rtol=1e-5, atol=1e-6)


def test_a_sequential_model_and_an_inputs_output_tuple():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="tanh")])
    inputs, output = tf_utils._get_model_inputs(model), tf_utils._get_model_output(model)
    assert len(inputs) == 1 and output is model.outputs[0]
    rows = np.random.default_rng(1).normal(size=(5, 3))
    np.testing.assert_allclose(
        keras.Model(inputs, output).predict(rows, verbose=0), model.predict(rows, verbose=0)
    )
    pair = (model.inputs, model.outputs[0])
    assert tf_utils._get_model_inputs(pair) is pair[0]
    assert tf_utils._get_model_output(pair) is pair[1]
    # the pair is what shapwise's TF explainers take in place of a model
    explainer = shap.GradientExplainer(pair, rows)
    assert np.asarray(explainer.shap_values(rows[:2])).size == 2 * 3 * 2


def test_what_keras_3_has_not_gets_a_clear_error():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

    model = Subclassed()
    model(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="no symbolic inputs"):
        tf_utils._get_model_inputs(model)
    with pytest.raises(ValueError, match="not currently a supported model type"):
        tf_utils._get_model_output(lambda x: x)
    with pytest.raises(NotImplementedError, match="Sessions belong to TensorFlow 1"):
        tf_utils._get_session(None)
    with pytest.raises(NotImplementedError, match="Graphs belong to TensorFlow 1"):
        tf_utils._get_graph(object())
    tf_utils._import_tf()
    assert tf_utils.tf.__name__ == "tensorflow"
