"""Explainers, and ``Explainer``: the factory that picks one for a model and masker."""

from __future__ import annotations

import importlib
from typing import Any

from shapwise.links import get_link, identity
from shapwise.maskers._base import Masker

# Explainer classes by algorithm name, imported only when used (some need torch or tensorflow).
_ALGORITHMS = {
    "exact": ("shapwise.explainers.exact", "ExactExplainer"),
    "permutation": ("shapwise.explainers.permutation", "PermutationExplainer"),
    "partition": ("shapwise.explainers.partition", "PartitionExplainer"),
    "kernel": ("shapwise.explainers.kernel", "KernelExplainer"),
    "linear": ("shapwise.explainers.linear", "LinearExplainer"),
    "deep": ("shapwise.explainers.deep", "DeepExplainer"),
    "gradient": ("shapwise.explainers.gradient", "GradientExplainer"),
    "tree": ("shapwise.explainers.tree", "TreeExplainer"),
    "additive": ("shapwise.explainers.additive", "AdditiveExplainer"),
    "sampling": ("shapwise.explainers.sampling", "SamplingExplainer"),
}

# Public names (shap's spellings) -> (module, attribute).
_PUBLIC = {
    "Exact": _ALGORITHMS["exact"],
    "ExactExplainer": _ALGORITHMS["exact"],
    "Permutation": _ALGORITHMS["permutation"],
    "PermutationExplainer": _ALGORITHMS["permutation"],
    "Partition": _ALGORITHMS["partition"],
    "PartitionExplainer": _ALGORITHMS["partition"],
    "Kernel": _ALGORITHMS["kernel"],
    "KernelExplainer": _ALGORITHMS["kernel"],
    "Linear": _ALGORITHMS["linear"],
    "LinearExplainer": _ALGORITHMS["linear"],
    "Deep": _ALGORITHMS["deep"],
    "DeepExplainer": _ALGORITHMS["deep"],
    "Gradient": _ALGORITHMS["gradient"],
    "GradientExplainer": _ALGORITHMS["gradient"],
    "Tree": _ALGORITHMS["tree"],
    "TreeExplainer": _ALGORITHMS["tree"],
    # shap's CUDA build of Tree SHAP: the same exact values, computed here on the CPU
    "GPUTree": _ALGORITHMS["tree"],
    "GPUTreeExplainer": _ALGORITHMS["tree"],
    "Additive": _ALGORITHMS["additive"],
    "AdditiveExplainer": _ALGORITHMS["additive"],
    "Sampling": _ALGORITHMS["sampling"],
    "SamplingExplainer": _ALGORITHMS["sampling"],
    "Coalition": ("shapwise.explainers.coalition", "CoalitionExplainer"),
    "CoalitionExplainer": ("shapwise.explainers.coalition", "CoalitionExplainer"),
}


def _load(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def _is_linear_estimator(model: Any) -> bool:
    return type(model).__module__.startswith("sklearn.linear_model") and hasattr(model, "coef_")


def _is_tree_model(model: Any) -> bool:
    from shapwise.explainers.tree.explainer import is_tree_model

    return is_tree_model(model)


# A table's feature hierarchy of up to this many features, whose exact Owen values need at most
# EXACT_OWEN_COALITIONS coalitions a row, is explained exactly (as shap's Explainer does up to 32
# features); beyond, the Partition explainer's budget applies.
EXACT_OWEN_FEATURES = 32
EXACT_OWEN_COALITIONS = 2**16


def _owen_is_affordable(masker: Masker) -> bool:
    from shapwise.maskers import Partition
    from shapwise.maskers._hierarchy import Hierarchy

    if not isinstance(masker, Partition) or masker.shape[1] > EXACT_OWEN_FEATURES:
        return False
    tree = Hierarchy(masker.clustering, masker.shape[1])
    return tree.owen_evaluations() <= EXACT_OWEN_COALITIONS


def _choose_algorithm(model: Any, masker: Masker) -> str:
    if _is_tree_model(model):
        return "tree"
    if _is_linear_estimator(model):
        return "linear"
    if masker.has_hierarchy:
        return "exact" if _owen_is_affordable(masker) else "partition"
    try:
        n_features = masker.shape[1]
    except ValueError:  # a function masker whose width is known only once it has masked a row
        return "permutation"
    return "exact" if n_features <= 10 else "permutation"


def Explainer(
    model: Any,
    masker: Any = None,
    link: Any = "identity",
    algorithm: str = "auto",
    output_names: list[str] | None = None,
    feature_names: list[str] | None = None,
    **kwargs: Any,
) -> Any:
    """Pick an explainer for ``model``: exact for up to 10 features, permutation beyond; with a
    masker that has a feature hierarchy, exact Owen values for a table of up to 32 features
    (where they need at most 2^16 coalitions a row), partition otherwise; linear for sklearn
    linear models.

    Args:
        model: a function of a 2-D array, torch module, Keras model or sklearn estimator.
        masker: a masker or background data.
        link: 'identity' or 'logit'.
        algorithm: 'auto' or one of exact, permutation, partition, kernel, linear, deep, gradient,
            tree, additive, sampling.
    """
    from shapwise.explainers._base import as_masker

    if algorithm not in _ALGORITHMS and algorithm != "auto":
        from shapwise.errors import InvalidAlgorithmError

        raise InvalidAlgorithmError(
            f"unknown algorithm {algorithm!r}; choose 'auto' or one of {sorted(_ALGORITHMS)}"
        )
    if algorithm in ("deep", "gradient"):
        ignored = [
            name
            for name, given in (
                ("link", get_link(link) is not identity),
                ("output_names", output_names),
                ("feature_names", feature_names),
            )
            if given
        ]
        if ignored:
            raise ValueError(
                f"the {algorithm} explainer does not take {', '.join(ignored)}: its values add up "
                "in the model's own output space and it names features from DataFrame inputs; "
                "leave these out, or use a model-agnostic algorithm such as 'permutation'"
            )
        return _load(*_ALGORITHMS[algorithm])(model, masker, **kwargs)
    from shapwise import text_models

    if text_models.is_pipeline(model):  # a transformers text-classification pipeline
        model, masker = text_models.for_pipeline(model, masker)
    elif text_models.is_language_model(model):  # explained by teacher forcing of its output
        model, masker = text_models.for_language_model(model, masker)
    if algorithm == "tree" or (algorithm == "auto" and _is_tree_model(model)):
        if get_link(link) is not identity:
            raise ValueError(
                "the tree explainer does not take a link: its values add up in the model's "
                "margin; for probabilities pass model_output='probability' with a background"
            )
        background = getattr(masker, "data", masker) if isinstance(masker, Masker) else masker
        return _load(*_ALGORITHMS["tree"])(
            model, background, feature_names=feature_names, output_names=output_names, **kwargs
        )
    names = {"output_names": output_names, "feature_names": feature_names}
    if algorithm == "linear" or (algorithm == "auto" and _is_linear_estimator(model)):
        return _load(*_ALGORITHMS["linear"])(model, masker, link=link, **names, **kwargs)
    masker = as_masker(masker)
    if algorithm == "auto":
        algorithm = _choose_algorithm(model, masker)
    explainer_class = _load(*_ALGORITHMS[algorithm])
    return explainer_class(model, masker, link=link, **names, **kwargs)


def _load_explainer(
    in_file: Any,
    model_loader: Any = None,
    masker_loader: Any = None,
    instantiate: bool = True,
    allow_pickle: bool = False,
) -> Any:
    """``Explainer.load(f)``: the explainer ``explainer.save(f)`` wrote, of whichever class."""
    from shapwise._saving import load_explainer

    return load_explainer(in_file, model_loader, masker_loader, instantiate, allow_pickle)


Explainer.load = _load_explainer  # shap's Explainer.load(f) on the factory


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return _load(*_PUBLIC[name])
    if name == "other":  # benchmark baselines (Random, Coefficient, TreeGain)
        return importlib.import_module("shapwise.explainers.other")
    if name == "tf_utils":  # shap's Keras helpers (TensorFlow loads only when one needs it)
        return importlib.import_module("shapwise.explainers.tf_utils")
    raise AttributeError(f"module 'shapwise.explainers' has no attribute {name!r}")


__all__ = ["Explainer", "other", "tf_utils", *_PUBLIC]
