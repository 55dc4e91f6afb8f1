"""TF/Keras DeepExplainer: additivity on a zoo of Keras models in float32 and mixed_float16."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from shapwise.errors import AdditivityError, ShapwiseWarning  # noqa: E402
from shapwise.explainers.deep import DeepExplainer  # noqa: E402
from shapwise.explainers.deep.tf_deep import TFDeepExplainer  # noqa: E402
from shapwise.numeric import additivity_tolerance  # noqa: E402

L = keras.layers


def _dense_act(activation):
    return lambda x: L.Dense(2)(L.Dense(6, activation=activation)(x))


def _gelu_tanh(x):
    hidden = L.Lambda(lambda t: keras.activations.gelu(t, approximate=True))(L.Dense(6)(x))
    return L.Dense(2)(hidden)


def _conv(x):
    h = L.Conv2D(3, 3, padding="same", activation="gelu")(x)
    h = L.MaxPooling2D()(h)
    h = L.Conv2D(3, 2, activation="silu")(h)
    return L.Dense(3)(L.Flatten()(L.MaxPooling2D(2, 1, padding="same")(h)))


def _layer_norm(x):
    return L.Dense(2)(L.LayerNormalization()(L.Dense(6, activation="selu")(x)))


def _attention(x):
    h = L.LayerNormalization()(x)
    h = L.Add()([x, L.MultiHeadAttention(num_heads=2, key_dim=3)(h, h)])
    h = L.Add()([h, L.Dense(4)(L.Dense(8, activation="gelu")(L.LayerNormalization()(h)))])
    return L.Dense(3, activation="softmax")(L.GlobalMaxPooling1D()(h))


def _residual(x):
    return L.Dense(2)(L.Add()([x, L.Dense(5, activation="mish")(x)]))


ZOO = {
    "gelu": (_dense_act("gelu"), (5,)),
    "silu": (_dense_act("silu"), (5,)),
    "selu": (_dense_act("selu"), (5,)),
    "gelu_tanh": (_gelu_tanh, (5,)),
    "conv_maxpool": (_conv, (6, 6, 2)),
    "layer_norm": (_layer_norm, (5,)),
    "attention": (_attention, (3, 4)),
    "residual": (_residual, (5,)),
}


def build(name: str, policy: str = "float32"):
    """A tiny Keras model of the zoo, built under ``policy`` (the global policy is always reset)."""
    body, shape = ZOO[name]
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy(policy)
    try:
        inputs = keras.Input(shape)
        model = keras.Model(inputs, body(inputs))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model, shape


@pytest.fixture(scope="module")
def zoo():
    return {
        (name, policy): build(name, policy)
        for name in ZOO
        for policy in ("float32", "mixed_float16")
    }


def _data(shape, rows=3, background=6, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(background, *shape)).astype(np.float32),
        rng.normal(size=(rows, *shape)).astype(np.float32),
    )


def _additivity_error(explanation) -> float:
    values = explanation.values.reshape(len(explanation.values), -1, explanation.values.shape[-1])
    total = values.sum(1) + explanation.base_values
    return float(np.abs(total - explanation.output_values).max())


@pytest.mark.parametrize("name", list(ZOO))
def test_additivity_float32(zoo, name):
    model, shape = zoo[(name, "float32")]
    background, X = _data(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShapwiseWarning)  # every op has an exact rule
        explainer = DeepExplainer(model, background)
    explanation = explainer(X)
    scale = max(1.0, float(np.abs(explanation.output_values).max()))
    assert _additivity_error(explanation) <= 1e-5 * scale
    np.testing.assert_allclose(explanation.output_values, np.asarray(model(X)), atol=1e-5)
    np.testing.assert_allclose(
        explainer.expected_value, np.asarray(model(background)).mean(0), atol=1e-5
    )


@pytest.mark.parametrize("name", ["gelu", "conv_maxpool", "layer_norm", "attention"])
def test_additivity_mixed_float16(zoo, name):
    model, shape = zoo[(name, "mixed_float16")]
    assert keras.mixed_precision.global_policy().name == "float32"
    background, X = _data(shape)
    explanation = DeepExplainer(model, background)(X)
    assert explanation.model_dtype == "float16"
    native = np.asarray(model(X), dtype=np.float32)
    np.testing.assert_allclose(explanation.native_output_values, native)
    scale = max(1.0, float(np.abs(native).max()))
    # The float32 forward of the float16 graph stays within half precision of the native output...
    np.testing.assert_allclose(
        explanation.output_values, native, atol=additivity_tolerance("float16", scale)
    )
    # ...and the values add up to it to float32 rounding.
    assert _additivity_error(explanation) <= 1e-5 * scale


def test_linear_model_gives_exact_values():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, L.Dense(3)(inputs))
    background, X = _data((5,))
    values = TFDeepExplainer(model, background).shap_values(X)
    kernel = model.layers[1].kernel.numpy()
    np.testing.assert_allclose(
        values, (X - background.mean(0))[:, :, None] * kernel[None], atol=1e-6
    )


def test_single_output_multiple_inputs_and_ranked_outputs(zoo):
    a, b = keras.Input((3,)), keras.Input((2,))
    keras.utils.set_random_seed(2)
    hidden = L.Dense(4, activation="tanh")(L.Concatenate()([a, b]))
    model = keras.Model([a, b], L.Reshape(())(L.Dense(1)(hidden)))
    background, X = _data((5,))
    explainer = TFDeepExplainer(model, [background[:, :3], background[:, 3:]])
    values = explainer.shap_values([X[:, :3], X[:, 3:]])
    # as shap 0.51's code: a trailing output axis for one output too, ranks whenever asked for
    assert [v.shape for v in values] == [(3, 3, 1), (3, 2, 1)]
    total = values[0].sum(1)[:, 0] + values[1].sum(1)[:, 0] + explainer.expected_value
    np.testing.assert_allclose(total, np.asarray(model([X[:, :3], X[:, 3:]])), atol=1e-5)
    _, single_ranks = explainer.shap_values([X[:, :3], X[:, 3:]], ranked_outputs=1)
    np.testing.assert_array_equal(single_ranks, np.zeros((3, 1)))

    model, shape = zoo[("gelu", "float32")]
    background, X = _data(shape)
    explainer = DeepExplainer(model, background)
    ranked, ranks = explainer.shap_values(X, ranked_outputs=1, output_rank_order="max_abs")
    outputs = np.asarray(model(X))
    np.testing.assert_array_equal(ranks[:, 0], np.abs(outputs).argmax(1))
    full = explainer.shap_values(X)
    np.testing.assert_allclose(ranked, np.take_along_axis(full, ranks[:, None, :], 2), atol=1e-6)


def test_small_batches_give_the_same_values(zoo):
    model, shape = zoo[("attention", "float32")]
    background, X = _data(shape)
    whole = TFDeepExplainer(model, background).shap_values(X)
    chunked = TFDeepExplainer(model, background, batch_size=18).shap_values(X)
    np.testing.assert_allclose(chunked, whole, atol=1e-6)


def test_op_without_rule_warns_once_and_is_named_in_the_additivity_error():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,))
    hidden = L.Lambda(lambda t: tf.math.cumprod(t, axis=-1))(L.Dense(4)(inputs))
    model = keras.Model(inputs, L.Dense(1)(hidden))
    background, X = _data((4,))
    with pytest.warns(ShapwiseWarning, match="no exact DeepLIFT rule for op.*Cumprod") as caught:
        explainer = TFDeepExplainer(model, background * 3)
    assert len([w for w in caught if issubclass(w.category, ShapwiseWarning)]) == 1
    with pytest.raises(AdditivityError, match="without an exact rule.*Cumprod"):
        explainer.shap_values(X * 3)
    assert explainer.shap_values(X * 3, check_additivity=False).shape == (3, 4, 1)


def test_control_flow_is_a_clear_error():
    class Branchy(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return tf.cond(tf.reduce_sum(x) > 0, lambda: self.dense(x), lambda: self.dense(-x))

    model = Branchy()
    model(np.zeros((1, 3), np.float32))
    with pytest.raises(NotImplementedError, match="control-flow op .*If"):
        TFDeepExplainer(model, np.zeros((2, 3), np.float32))


def test_subclassed_model_and_bad_arguments(zoo):
    class Tiny(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = L.Dense(4), L.Dense(2)

        def call(self, x):
            return self.b(keras.activations.silu(self.a(x)) * keras.ops.sigmoid(x[:, :1]))

    model = Tiny()
    background, X = _data((3,))
    model(background)
    explanation = TFDeepExplainer(model, background)(X)
    assert _additivity_error(explanation) <= 1e-5

    model, shape = zoo[("gelu", "float32")]
    explainer = TFDeepExplainer(model, _data(shape)[0])
    with pytest.raises(ValueError, match="rows of shape"):
        explainer.shap_values(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="output_rank_order must be one of"):
        explainer.shap_values(_data(shape)[1], ranked_outputs=1, output_rank_order="middle")
    with pytest.raises(TypeError, match="takes a Keras model"):
        TFDeepExplainer((model, model.layers[1]), _data(shape)[0])
    inputs = keras.Input((4,))
    grid_output = keras.Model(inputs, L.Reshape((2, 2))(L.Dense(4)(inputs)))
    with pytest.raises(ValueError, match=r"output has rank 3; DeepExplainer explains.*\(N,\)"):
        TFDeepExplainer(grid_output, np.zeros((3, 4), np.float32))


def test_a_rule_that_cannot_cover_an_op_names_it():
    # A max over an axis only known at run time has no static pairwise tree: named, not silent.
    inputs = keras.Input((5, 3))

    def run_time_axis(t):
        return tf.ensure_shape(tf.reduce_max(t, axis=tf.shape(t)[0] * 0 + 1), [None, 4])

    hidden = L.Lambda(run_time_axis, output_shape=(4,))(L.Dense(4, activation="gelu")(inputs))
    model = keras.Model(inputs, L.Dense(2)(hidden))
    rng = np.random.default_rng(0)
    background = rng.normal(size=(4, 5, 3)).astype(np.float32)
    with pytest.warns(ShapwiseWarning, match="no exact DeepLIFT rule for op.*Max"):
        TFDeepExplainer(model, background)
