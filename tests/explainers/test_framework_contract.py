"""The framework estimators (Deep, Gradient) under the driver: the caller's data is never written
into by a model that changes its input in place, Gradient reports its additivity error without
failing, Deep names what it could not attribute exactly, and empty input is refused."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from shapwise.errors import AdditivityError, ShapwiseWarning
from shapwise.explainers.deep import DeepExplainer
from shapwise.explainers.gradient import GradientExplainer

torch = pytest.importorskip("torch")


class Halving(torch.nn.Module):
    """A linear model that first halves its input in place, as preprocessing code may."""

    def __init__(self, in_place: bool) -> None:
        super().__init__()
        self.in_place = in_place
        self.linear = torch.nn.Linear(3, 2).double()
        torch.nn.init.normal_(self.linear.weight, generator=torch.Generator().manual_seed(0))

    def forward(self, x):
        x = x.mul_(0.5) if self.in_place else x * 0.5
        return self.linear(x)


def _array(data) -> np.ndarray:
    return data.numpy() if isinstance(data, torch.Tensor) else data


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 3)), rng.normal(size=(4, 3))


@pytest.mark.parametrize("as_tensor", [False, True])
@pytest.mark.parametrize("explainer_class", [DeepExplainer, GradientExplainer])
def test_a_model_writing_into_its_input_changes_neither_background_nor_rows(
    explainer_class, as_tensor
):
    background, X = _data()
    if as_tensor:
        background, X = torch.tensor(background), torch.tensor(X)
    saved = _array(background).copy(), _array(X).copy()
    writing = explainer_class(Halving(in_place=True), background)
    # Gradient: each row walks the whole background equally often, exact for a linear model
    options = {} if explainer_class is DeepExplainer else {"nsamples": 60, "rseed": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShapwiseWarning)
        values = writing.shap_values(X, **options)
        explanation = writing(X, **options)
    np.testing.assert_array_equal(_array(background), saved[0])
    np.testing.assert_array_equal(_array(X), saved[1])
    # the values are those of the same model computed without writing (a linear model: exact)
    pure = explainer_class(Halving(in_place=False), saved[0]).shap_values(saved[1], **options)
    np.testing.assert_allclose(values, pure, atol=1e-10)
    np.testing.assert_allclose(explanation.values, pure, atol=1e-10)


def test_gradient_reports_its_additivity_error_as_a_warning_not_a_failure():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    background, X = (a.astype(np.float32) * 3 for a in _data())
    explainer = GradientExplainer(net, background)
    with pytest.warns(ShapwiseWarning, match="gradient: .* differ from the model output by up to"):
        explanation = explainer(X, nsamples=2, rseed=0)
    gap = explanation.values.sum(1) + explanation.base_values - explanation.output_values
    assert np.abs(gap).max() > 1e-3  # a real error, shown by the Explanation itself
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShapwiseWarning)
        explainer(X, nsamples=2, rseed=0, check_additivity=False)


def test_deeps_additivity_error_names_what_it_could_not_attribute():
    class Cumulative(torch.nn.Module):
        def forward(self, x):
            return torch.cumprod(x, dim=1)[:, -1:]

    background, X = (a.astype(np.float32) for a in _data())
    explainer = DeepExplainer(Cumulative(), background)
    with pytest.warns(ShapwiseWarning), pytest.raises(AdditivityError) as raised:
        explainer.shap_values(X * 3)
    message = str(raised.value)
    assert "without an exact rule: cumprod" in message and "bug" not in message


@pytest.mark.parametrize("explainer_class", [DeepExplainer, GradientExplainer])
def test_empty_rows_are_refused(explainer_class):
    background, _ = _data()
    explainer = explainer_class(Halving(in_place=False), background)
    with pytest.raises(ValueError, match="at least one row"):
        explainer(np.zeros((0, 3)))
