"""PyTorch side of the Gradient explainer: batched outputs and gradients of a module (or its layer)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import numpy as np

from shapwise._optional import require
from shapwise._torch_modes import eval_mode
from shapwise.numeric import compute_dtype


def _float_dtype_of(model: Any) -> Any:
    torch = require("torch", "torch")
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


class TorchGradientModel:
    """A torch module seen through numpy: float32 (or float64) outputs and batched gradients.

    A float16/bfloat16 model is differentiated on a float32 copy; the original answers only for the
    native outputs. With ``layer``, the attributed tensors are that submodule's positional inputs: a
    forward pre-hook (removed after each call) substitutes the points on the path between the layer
    inputs of the row and of the background.
    """

    def __init__(self, model: Any, layer: Any, background: list[np.ndarray]) -> None:
        torch = require("torch", "torch")
        self.native_model = model
        native = _float_dtype_of(model)
        self.model_dtype = str(native).replace("torch.", "")
        self.compute_dtype = getattr(torch, compute_dtype(self.model_dtype).name)
        self.model = (
            model if native == self.compute_dtype else copy.deepcopy(model).to(self.compute_dtype)
        )
        self.device = next((p.device for p in model.parameters()), torch.device("cpu"))
        self.layer = None
        if layer is not None:
            name = next((n for n, m in model.named_modules() if m is layer), None)
            if name is None or name == "":
                raise ValueError(
                    "layer must be a submodule of the model (e.g. model.conv2), given as (model, layer)"
                )
            self.layer = self.model.get_submodule(name)
            self.layer_name = name
        self.n_inputs = len(background)
        with eval_mode(self.model), torch.no_grad():
            probe = self.model(*self._tensors([b[:1] for b in background], self.compute_dtype))
        self._forward_check(probe)
        # shap's convention for torch: (N, 1) outputs count as a single output.
        self.multi_output = probe.ndim > 1 and probe.shape[1] > 1

    # ---------------------------------------------------------------- helpers
    def _tensors(self, arrays: list[np.ndarray], dtype: Any) -> list[Any]:
        torch = require("torch", "torch")
        # fresh tensors: a model may write into its input (x.mul_(0.5)), never into the caller's
        return [torch.tensor(np.asarray(a), device=self.device, dtype=dtype) for a in arrays]

    def _forward(self, model: Any, inputs: list[Any]) -> Any:
        output = model(*inputs)
        self._forward_check(output)
        return output.reshape(len(output), -1)

    @staticmethod
    def _forward_check(output: Any) -> None:
        if isinstance(output, (tuple, list)):
            raise TypeError(
                "the model returns several tensors; explain a model with a single output tensor "
                "(wrap it to return the one you want)"
            )
        if output.ndim > 2:
            raise ValueError(
                f"the model output has shape {tuple(output.shape)}; GradientExplainer explains "
                "outputs shaped (N,) or (N, outputs) - flatten or select outputs in a wrapper"
            )

    @contextlib.contextmanager
    def _substitute_layer_inputs(
        self, values: list[Any] | None, captured: list[Any]
    ) -> Iterator[None]:
        """While active, the layer's positional inputs are recorded (and replaced by ``values``)."""

        def hook(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
            if captured:
                raise RuntimeError(
                    f"layer '{self.layer_name}' runs more than once per forward pass; its input is "
                    "ambiguous - choose a layer that is called once"
                )
            captured.append(args)
            return None if values is None else tuple(values) + tuple(args[len(values) :])

        handle = self.layer.register_forward_pre_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    # ---------------------------------------------------------------- interface
    def outputs(self, inputs: list[np.ndarray]) -> np.ndarray:
        torch = require("torch", "torch")
        with eval_mode(self.model), torch.no_grad():
            out = self._forward(self.model, self._tensors(inputs, self.compute_dtype))
        return out.cpu().numpy()

    def native_outputs(self, inputs: list[np.ndarray]) -> np.ndarray | None:
        torch = require("torch", "torch")
        if self.model is self.native_model:
            return None
        dtype = _float_dtype_of(self.native_model)
        with eval_mode(self.native_model), torch.no_grad():
            out = self._forward(self.native_model, self._tensors(inputs, dtype))
        return out.float().cpu().numpy()

    def attributed_values(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        torch = require("torch", "torch")
        if self.layer is None:
            return inputs
        captured: list[Any] = []
        with eval_mode(self.model), torch.no_grad(), self._substitute_layer_inputs(None, captured):
            self._forward(self.model, self._tensors(inputs, self.compute_dtype))
        if not captured:
            raise RuntimeError(f"layer '{self.layer_name}' did not run in the model's forward pass")
        tensors = [a for a in captured[0] if isinstance(a, torch.Tensor)]
        if len(tensors) != len(captured[0]) or not all(t.is_floating_point() for t in tensors):
            raise TypeError(
                f"layer '{self.layer_name}' takes inputs that are not all float tensors; "
                "expected gradients need a layer whose positional inputs are float tensors"
            )
        return [t.cpu().numpy() for t in tensors]

    def gradients(
        self, inputs: list[np.ndarray], attributed: list[np.ndarray], output_index: np.ndarray
    ) -> list[np.ndarray]:
        torch = require("torch", "torch")
        n_points, n_outputs = output_index.shape

        def repeat(arrays: list[np.ndarray]) -> list[Any]:
            # Output-major copies: copy k of every point is differentiated for output k.
            return [
                t.repeat((n_outputs,) + (1,) * (t.ndim - 1))
                for t in self._tensors(arrays, self.compute_dtype)
            ]

        index = torch.as_tensor(output_index.T.reshape(-1, 1), device=self.device)
        with eval_mode(self.model), contextlib.ExitStack() as stack:
            stack.enter_context(torch.enable_grad())
            # the model gets copies of the leaves: it may change its input in place, which
            # autograd records exactly on a copy but refuses on a leaf
            if self.layer is None:
                leaves = [t.requires_grad_() for t in repeat(inputs)]
                model_inputs = [leaf.clone() for leaf in leaves]
            else:
                leaves = [t.requires_grad_() for t in repeat(attributed)]
                model_inputs = repeat(inputs)
                fed = [leaf.clone() for leaf in leaves]
                stack.enter_context(self._substitute_layer_inputs(fed, []))
            out = self._forward(self.model, model_inputs)
            selected = out.gather(1, index).sum()
            grads = torch.autograd.grad(selected, leaves, allow_unused=True)
        result = []
        for grad, leaf in zip(grads, leaves, strict=True):
            grad = torch.zeros_like(leaf) if grad is None else grad
            grad = grad.reshape((n_outputs, n_points, *tuple(grad.shape[1:])))
            result.append(np.moveaxis(grad.detach().cpu().numpy(), 0, -1))
        return result
