"""DeepSHAP: exact DeepLIFT multipliers by operation, averaged over a background."""

from __future__ import annotations

from typing import Any


def _framework(model: Any) -> str:
    target = model[0] if isinstance(model, tuple) else model
    for cls in type(target).__mro__:
        root = cls.__module__.split(".")[0]
        if root == "torch":
            return "torch"
        if root in ("keras", "tensorflow", "tf_keras"):
            return "tensorflow"
    raise TypeError(
        f"DeepExplainer explains torch.nn.Module and Keras models, not {type(target).__name__}; "
        "for other models use shapwise.Explainer (model-agnostic)"
    )


def DeepExplainer(model: Any, data: Any, **kwargs: Any) -> Any:
    """Build the Deep explainer for a PyTorch module or a Keras model."""
    if _framework(model) == "torch":
        from shapwise.explainers.deep.torch_deep import TorchDeepExplainer

        return TorchDeepExplainer(model, data, **kwargs)
    from shapwise.explainers.deep.tf_deep import TFDeepExplainer

    return TFDeepExplainer(model, data, **kwargs)


Deep = DeepExplainer

__all__ = ["Deep", "DeepExplainer"]
