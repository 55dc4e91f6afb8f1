"""Gradient and Deep explainers saved and loaded with ``import shapwise as shap``: the loaded
explainer gives the saved one's values bit for bit (Gradient with the same seed), for torch
modules and Keras models of one or several inputs and at inner layers; the network travels as
torch.export or ``.keras`` (no pickle), and what cannot travel that way is refused with the way
to save it yourself."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest

import shapwise as shap
from shapwise._saving import SavingError

torch = pytest.importorskip("torch")


class TwoInputs(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.left = torch.nn.Linear(3, 4)
        self.right = torch.nn.Linear(2, 4)
        self.head = torch.nn.Sequential(torch.nn.Tanh(), torch.nn.Linear(4, 2))

    def forward(self, x, z):
        return self.head(self.left(x) * torch.sigmoid(self.right(z)))


def one_input_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3), torch.nn.Softplus()
    )


def two_input_net():
    torch.manual_seed(1)
    return TwoInputs()


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(12, 3)).astype("float32"), rng.normal(size=(12, 2)).astype("float32")]


def roundtrip(explainer, load=None, **options):
    saving = {k: v for k, v in options.items() if k == "model_saver"}
    loading = {k: v for k, v in options.items() if k != "model_saver"}
    handle = io.BytesIO()
    explainer.save(handle, **saving)
    handle.seek(0)
    entries = zipfile.ZipFile(handle).namelist()
    handle.seek(0)
    return (load or shap.Explainer.load)(handle, **loading), entries


def assert_equal_lists(ours, theirs):
    if not isinstance(theirs, list):
        ours, theirs = [ours], [theirs]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


def save_weights(module, stream):
    torch.save(module.state_dict(), stream)


def weights_into(make):
    def loader(stream):
        module = make()
        module.load_state_dict(torch.load(stream, weights_only=True))
        return module

    return loader


# ------------------------------------------------------------------------------------ torch
def test_torch_gradient_of_one_input_travels_by_torch_export():
    net = one_input_net()
    background = pd.DataFrame(np.random.default_rng(1).normal(size=(15, 4)), columns=list("wxyz"))
    explainer = shap.GradientExplainer(net, background.astype("float32"), local_smoothing=0.1)
    loaded, entries = roundtrip(explainer, load=shap.GradientExplainer.load)
    assert "model.pt2" in entries and not any("pickle" in e for e in entries)
    X = background.iloc[:4] + 0.25
    assert_equal_lists(
        loaded.shap_values(X, nsamples=30, rseed=7), explainer.shap_values(X, nsamples=30, rseed=7)
    )
    before = explainer(X, rseed=3, check_additivity=False)
    after = loaded(X, rseed=3, check_additivity=False)
    np.testing.assert_array_equal(after.values, before.values)
    # the exported program computes Softplus in its own kernel: outputs within float32 rounding
    np.testing.assert_allclose(after.base_values, before.base_values, rtol=1e-6)
    assert after.feature_names == list("wxyz") and loaded.local_smoothing == 0.1


def test_torch_gradient_of_two_inputs(rows):
    net = two_input_net()
    explainer = shap.GradientExplainer(net, rows, batch_size=17)
    loaded, _ = roundtrip(explainer)
    X = [r[:3] * 1.5 for r in rows]
    assert loaded.batch_size == 17
    assert_equal_lists(loaded.shap_values(X, rseed=2), explainer.shap_values(X, rseed=2))


def test_torch_gradient_at_an_inner_layer_needs_the_users_saver(rows):
    net = two_input_net()
    explainer = shap.GradientExplainer((net, net.head), rows)
    with pytest.raises(SavingError, match="model_saver and model_loader"):
        explainer.save(io.BytesIO())
    loaded, entries = roundtrip(
        explainer, model_saver=save_weights, model_loader=weights_into(TwoInputs)
    )
    assert "model.user" in entries
    X = [r[:2] - 0.5 for r in rows]
    assert_equal_lists(loaded.shap_values(X, rseed=5), explainer.shap_values(X, rseed=5))


def test_torch_deep_needs_the_users_saver_and_comes_back(rows):
    net = two_input_net()
    explainer = shap.DeepExplainer(net, [torch.tensor(r) for r in rows])
    with pytest.raises(SavingError, match="DeepExplainer of a torch module.*model_saver"):
        explainer.save(io.BytesIO())
    loaded, _ = roundtrip(
        explainer,
        load=shap.DeepExplainer.load,
        model_saver=save_weights,
        model_loader=weights_into(TwoInputs),
    )
    X = [torch.tensor(r[:4] + 1.0) for r in rows]
    assert_equal_lists(loaded.shap_values(X), explainer.shap_values(X))
    np.testing.assert_array_equal(loaded.expected_value, explainer.expected_value)


def test_torch_deep_at_a_named_layer(rows):
    net = two_input_net()
    explainer = shap.DeepExplainer((net, net.head), [torch.tensor(r) for r in rows])
    loaded, _ = roundtrip(explainer, model_saver=save_weights, model_loader=weights_into(TwoInputs))
    assert loaded.layer is loaded.model.head
    X = [torch.tensor(r[:3]) for r in rows]
    assert_equal_lists(loaded.shap_values(X), explainer.shap_values(X))


def test_a_pickled_network_loads_only_when_allowed(rows):
    explainer = shap.GradientExplainer(one_input_net(), np.ones((4, 4), "float32"))
    handle = io.BytesIO()
    explainer.save(handle, model_saver="pickle")
    handle.seek(0)
    with pytest.raises(SavingError, match="allow_pickle=True"):
        shap.GradientExplainer.load(handle)
    handle.seek(0)
    loaded = shap.GradientExplainer.load(handle, allow_pickle=True)
    X = np.full((2, 4), 2.0, "float32")
    assert_equal_lists(loaded.shap_values(X, rseed=1), explainer.shap_values(X, rseed=1))


# ------------------------------------------------------------------------------------ Keras
@pytest.fixture(scope="module")
def keras_two_inputs():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    left, right = keras.Input((3,)), keras.Input((2,))
    joined = keras.layers.Concatenate()([left, right])
    hidden = keras.layers.Dense(5, activation="tanh", name="hidden")(joined)
    output = keras.layers.Dense(2, name="scores")(hidden)
    return keras.Model([left, right], output)


def test_keras_gradient_and_deep_travel_as_keras_archives(rows, keras_two_inputs):
    X = [r[:3] + 0.5 for r in rows]
    gradient = shap.GradientExplainer(keras_two_inputs, rows)
    loaded, entries = roundtrip(gradient)
    assert "model.keras" in entries and not any("pickle" in e for e in entries)
    assert_equal_lists(loaded.shap_values(X, rseed=4), gradient.shap_values(X, rseed=4))
    deep = shap.DeepExplainer(keras_two_inputs, rows)
    loaded, entries = roundtrip(deep, load=shap.DeepExplainer.load)
    assert "model.keras" in entries
    assert_equal_lists(loaded.shap_values(X), deep.shap_values(X))
    np.testing.assert_array_equal(loaded.expected_value, deep.expected_value)


def test_keras_gradient_at_an_inner_layer_keeps_the_layer_by_name(rows, keras_two_inputs):
    explainer = shap.GradientExplainer((keras_two_inputs, "scores"), rows)
    loaded, _ = roundtrip(explainer)
    X = [r[:2] for r in rows]
    assert_equal_lists(loaded.shap_values(X, rseed=6), explainer.shap_values(X, rseed=6))
    with pytest.raises(SavingError, match="not a DeepExplainer"):
        handle = io.BytesIO()
        explainer.save(handle)
        handle.seek(0)
        shap.DeepExplainer.load(handle)
