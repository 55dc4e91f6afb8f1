"""The same explanations on a CUDA device as on the CPU (skipped where no GPU is present)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

from shapwise import DeepExplainer, GradientExplainer  # noqa: E402
from shapwise.models import as_model  # noqa: E402
from shapwise.numeric import to_numpy  # noqa: E402
from tests.explainers.deep import torch_zoo as zoo  # noqa: E402


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_cuda_tensors_cross_the_boundary(dtype):
    tensor = torch.tensor([[0.5, -2.0]], dtype=dtype, device="cuda", requires_grad=True)
    out = to_numpy(tensor)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.5, -2.0]])


def test_model_adapter_moves_inputs_to_the_module_device():
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.GELU()).cuda().half()
    X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.tensor(X, device="cuda").half()).float().cpu().numpy()
    np.testing.assert_array_equal(as_model(net)(X), expected)


@pytest.mark.parametrize(
    ("build", "shape"),
    [
        (zoo.gelu_cnn, (1, 28, 28)),
        (lambda: zoo.TransformerBlock(attention="mha"), (5, 16)),
        (lambda: zoo.TransformerBlock(attention="sdpa"), (5, 16)),
    ],
    ids=["gelu_cnn", "transformer_mha", "transformer_sdpa"],
)
def test_deep_on_cuda_matches_cpu(build, shape):
    torch.manual_seed(0)
    model = build().eval()
    background, x = torch.randn(6, *shape), torch.randn(3, *shape)
    cpu = DeepExplainer(model, background)(x)
    gpu_model = model.cuda()
    gpu = DeepExplainer(gpu_model, background.cuda())(x.cuda())
    total = gpu.values.reshape(len(x), -1, gpu.values.shape[-1]).sum(1) + gpu.base_values
    np.testing.assert_allclose(total, gpu.output_values, atol=1e-4)
    np.testing.assert_allclose(gpu.values, cpu.values, atol=1e-4)
    assert next(gpu_model.parameters()).is_cuda  # the model stays where it was


def test_bfloat16_deep_and_gradient_on_cuda():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.SiLU(), torch.nn.LayerNorm(16), torch.nn.Linear(16, 3)
    )
    background, x = torch.randn(20, 6), torch.randn(4, 6)
    reference = DeepExplainer(model, background)(x)
    half = model.cuda().to(torch.bfloat16)
    explanation = DeepExplainer(half, background.cuda().bfloat16())(x.cuda().bfloat16())
    assert explanation.model_dtype == "bfloat16"
    total = explanation.values.sum(1) + explanation.base_values
    np.testing.assert_allclose(total, explanation.output_values, atol=1e-4)
    np.testing.assert_allclose(explanation.values, reference.values, atol=0.1)
    gradient = GradientExplainer(half, background.cuda().bfloat16())
    values = gradient.shap_values(x.cuda().bfloat16(), nsamples=40)
    assert values.shape == (4, 6, 3) and np.isfinite(values).all()
