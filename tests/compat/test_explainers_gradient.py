"""shap-style programs for GradientExplainer and the TensorFlow DeepExplainer, run with
``import shapwise as shap``: shap 0.51's layouts (the output axis kept for a single-output model,
for every input) and closed forms (expected gradients and DeepLIFT of a linear model are
w * (x - mean background) once every background row is drawn equally often)."""

from __future__ import annotations

import numpy as np
import pytest

import shapwise as shap

torch = pytest.importorskip("torch")


class TwoInputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.left = torch.nn.Linear(3, 1)
        self.right = torch.nn.Linear(2, 1)

    def forward(self, x, y):
        return self.left(x) + self.right(y)


@pytest.fixture
def rows():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(10, 3)).astype("float32"), rng.normal(size=(10, 2)).astype("float32")]


def test_torch_gradient_of_several_inputs_keeps_the_output_axis(rows):
    torch.manual_seed(0)
    model = TwoInputs()
    background = [torch.tensor(r) for r in rows]
    X = [torch.tensor(r[:4] + 0.5) for r in rows]
    values = shap.GradientExplainer(model, background).shap_values(X, nsamples=20, rseed=0)
    assert [v.shape for v in values] == [(4, 3, 1), (4, 2, 1)]  # shap 0.51's layout
    for value, layer, x, bg in zip(values, (model.left, model.right), X, rows, strict=True):
        weight = layer.weight.detach().numpy()[0]
        np.testing.assert_allclose(value[..., 0], weight * (x.numpy() - bg.mean(0)), atol=1e-5)
    real_shap = pytest.importorskip("shap")
    theirs = real_shap.GradientExplainer(model, background).shap_values(X, nsamples=20)
    assert [v.shape for v in theirs] == [v.shape for v in values]


def test_torch_gradient_of_one_input_and_one_output(rows):
    torch.manual_seed(1)
    model = torch.nn.Linear(3, 1)
    background = torch.tensor(rows[0])
    X = torch.tensor(rows[0][:3] * 2)
    values = shap.GradientExplainer(model, background).shap_values(X, nsamples=10, rseed=0)
    assert values.shape == (3, 3, 1)
    weight = model.weight.detach().numpy()[0]
    np.testing.assert_allclose(values[..., 0], weight * (X.numpy() - rows[0].mean(0)), atol=1e-5)


@pytest.fixture
def keras_two_inputs():
    keras = pytest.importorskip("keras")
    left, right = keras.Input((3,)), keras.Input((2,))
    joined = keras.layers.Concatenate()([left, right])
    output = keras.layers.Dense(1)(joined)
    return keras.Model([left, right], output)


def test_keras_gradient_of_input_and_output_tensors(rows, keras_two_inputs):
    model = keras_two_inputs
    explainer = shap.GradientExplainer((model.inputs, model.output), rows)
    X = [r[:4] + 0.5 for r in rows]
    values = explainer.shap_values(X, nsamples=20, rseed=0)
    assert [v.shape for v in values] == [(4, 3, 1), (4, 2, 1)]
    weight = model.layers[-1].get_weights()[0][:, 0]
    np.testing.assert_allclose(values[0][..., 0], weight[:3] * (X[0] - rows[0].mean(0)), atol=1e-5)
    np.testing.assert_allclose(values[1][..., 0], weight[3:] * (X[1] - rows[1].mean(0)), atol=1e-5)


def test_tf_deep_explainer_of_input_and_output_tensors_and_a_list_of_inputs(rows, keras_two_inputs):
    keras = pytest.importorskip("keras")
    model = keras_two_inputs
    X = [r[:4] + 0.5 for r in rows]
    weight = model.layers[-1].get_weights()[0][:, 0]
    for form in ((model.inputs, model.output), model):
        explainer = shap.DeepExplainer(form, rows)  # background: a list, one array per input
        values = explainer.shap_values(X)
        assert [v.shape for v in values] == [(4, 3, 1), (4, 2, 1)]
        np.testing.assert_allclose(
            values[0][..., 0], weight[:3] * (X[0] - rows[0].mean(0)), atol=1e-5
        )
        np.testing.assert_allclose(
            values[1][..., 0], weight[3:] * (X[1] - rows[1].mean(0)), atol=1e-5
        )
    # one input tensor to the output of a ReLU network: DeepLIFT adds up to the output exactly
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    output = keras.layers.Dense(1)(hidden)
    explainer = shap.DeepExplainer((inputs, output), rows[0])
    values = explainer.shap_values(rows[0][:5] * 1.5)
    network = keras.Model(inputs, output)
    predicted = np.asarray(network(rows[0][:5] * 1.5))[:, 0]
    np.testing.assert_allclose(
        values[..., 0].sum(1) + explainer.expected_value, predicted, atol=1e-5
    )
