"""DeepSHAP: exact DeepLIFT multipliers by operation, averaged over a background."""

from __future__ import annotations

from typing import Any

from shapwise.models import framework_of


def DeepExplainer(model: Any, data: Any, **kwargs: Any) -> Any:
    """Build the Deep explainer for a PyTorch module or a Keras model (or shap's TensorFlow
    form ``(input tensors, output tensor)`` of a functional Keras model)."""
    from shapwise.explainers._keras_tensors import is_tensor_pair, model_from_tensors

    if is_tensor_pair(model):
        model = model_from_tensors(model)
    target = model[0] if isinstance(model, tuple) else model
    framework = framework_of(target)
    if framework is None:
        raise TypeError(
            f"DeepExplainer explains torch.nn.Module and Keras models, not {type(target).__name__}; "
            "for other models use shapwise.Explainer (model-agnostic)"
        )
    if framework == "torch":
        from shapwise.explainers.deep.torch_deep import TorchDeepExplainer

        return TorchDeepExplainer(model, data, **kwargs)
    from shapwise.explainers.deep.tf_deep import TFDeepExplainer

    return TFDeepExplainer(model, data, **kwargs)


def register_function_rule(function: Any) -> None:
    """Let DeepExplainer attribute a custom ``torch.autograd.Function`` through its forward.

    The Function's forward must compute its outputs with torch operations; each then gets its own
    exact rule, and the Function's hand-written backward is not used.
    """
    from shapwise.explainers.deep.torch_op_table import register_function_rule as register

    register(function)


def _load_deep(
    in_file: Any, model_loader: Any = None, masker_loader: Any = None, allow_pickle: bool = False
) -> Any:
    """``DeepExplainer.load(f)``: the Deep explainer ``explainer.save(f)`` wrote."""
    from shapwise._saving import SavingError, load_explainer

    explainer = load_explainer(in_file, model_loader, masker_loader, allow_pickle=allow_pickle)
    if type(explainer).__name__ not in ("TorchDeepExplainer", "TFDeepExplainer"):
        raise SavingError(f"this file holds a {type(explainer).__name__}, not a DeepExplainer")
    return explainer


DeepExplainer.load = _load_deep  # shap's DeepExplainer.load(f) on the factory
Deep = DeepExplainer

__all__ = ["Deep", "DeepExplainer", "register_function_rule"]
