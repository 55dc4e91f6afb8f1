"""Saving the Gradient and Deep explainers: their options and background arrays as JSON and
``.npy``, the network through a safe format (see ``_saving_models``); loading builds the
explainer again from them, so it traces the network as a new one would.

- Keras models (Gradient and Deep) are stored as ``.keras`` archives (``safe_mode`` on loading);
  an inner layer is kept by its name.
- A torch module explained by GradientExplainer is stored by torch.export and comes back as a
  module that can be differentiated (:class:`shapwise._torch_exported.ExportedModule`).
- DeepExplainer follows a torch module's own operations, which an exported program replaces by
  its low-level ones, and a module explained at an inner layer needs that layer back: both are
  saved with the user's ``model_saver`` / ``model_loader`` (e.g. the state dict and the class).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from shapwise._saving import decode_state, encode_state
from shapwise._saving_models import SavingError, load_model, save_model
from shapwise.models import framework_of

_PREFIX = "explainer/"
_OWN_SAVER_EXAMPLE = (
    "model_saver=lambda model, f: torch.save(model.state_dict(), f) and "
    "model_loader=lambda f: load_weights(Net(), f), where load_weights calls "
    "module.load_state_dict(torch.load(f, weights_only=True)) and returns the module"
)


def _uses_safe_format(model_saver: Any) -> bool:
    return isinstance(model_saver, str) and model_saver in (".save", "auto")


def _store(
    options: dict[str, Any],
    model: Any,
    archive: zipfile.ZipFile,
    model_saver: Any,
    background: list[np.ndarray],
    what: str,
) -> dict[str, Any]:
    entry = encode_state(options, what, archive, _PREFIX)
    return {**entry, "model": save_model(model, model_saver, archive, background)}


def _background(options: dict[str, Any]) -> Any:
    """The background as the constructor takes it: a list for several inputs."""
    background = list(options["background"])
    return background if options["multi_input"] else background[0]


# ------------------------------------------------------------------------------------ Gradient
def save_gradient(explainer: Any, archive: zipfile.ZipFile, model_saver: Any) -> dict[str, Any]:
    """The header entries of a GradientExplainer; its background and model into ``archive``."""
    network = explainer.model.native_model
    layer = explainer.model.layer_name if explainer._explains_layer else None
    if layer is not None and framework_of(network) == "torch" and _uses_safe_format(model_saver):
        raise SavingError(
            "a GradientExplainer of a torch module's inner layer cannot be saved by torch.export "
            "(the exported program has no layer to hook); pass model_saver and model_loader of "
            f"your own, e.g. {_OWN_SAVER_EXAMPLE}"
        )
    options = {
        "background": [np.asarray(b) for b in explainer.background],
        "multi_input": explainer._multi_input,
        "feature_names": explainer.feature_names,
        "layer": layer,
        "batch_size": explainer.batch_size,
        "local_smoothing": explainer.local_smoothing,
    }
    return _store(
        options, network, archive, model_saver, options["background"], "the GradientExplainer"
    )


def load_gradient(
    header: dict[str, Any],
    archive: zipfile.ZipFile,
    model_loader: Callable[[Any], Any] | None,
    allow_pickle: bool,
    in_file: Any,
) -> Any:
    """The GradientExplainer :func:`save_gradient` stored."""
    from shapwise.explainers.gradient import GradientExplainer

    options = decode_state(header, archive, _PREFIX)
    network = load_model(
        header["model"], archive, model_loader, allow_pickle, in_file, torch_module=True
    )
    layer = options["layer"]
    if layer is not None and framework_of(network) == "torch":
        layer = network.get_submodule(layer)
    explainer = GradientExplainer(
        network if layer is None else (network, layer),
        _background(options),
        batch_size=options["batch_size"],
        local_smoothing=options["local_smoothing"],
    )
    explainer.feature_names = options["feature_names"]
    return explainer


# ------------------------------------------------------------------------------------ Deep
def save_torch_deep(explainer: Any, archive: zipfile.ZipFile, model_saver: Any) -> dict[str, Any]:
    """The header entries of a torch DeepExplainer (the module by the user's own saver)."""
    if _uses_safe_format(model_saver):
        raise SavingError(
            "a DeepExplainer of a torch module is not saved by torch.export: DeepExplainer "
            "follows the module's own operations, which an exported program replaces; pass "
            f"model_saver and model_loader of your own, e.g. {_OWN_SAVER_EXAMPLE}"
        )
    layer = None
    if explainer.layer is not None:
        layer = next(
            name for name, module in explainer._model.named_modules() if module is explainer.layer
        )
    background = [tensor.detach().cpu().numpy() for tensor in explainer.data]
    options = {
        "background": background,
        "multi_input": explainer.multi_input,
        "layer": layer,
        "batch_size": explainer.batch_size,
        "silent": explainer.silent,
    }
    return _store(options, explainer.model, archive, model_saver, background, "the DeepExplainer")


def load_torch_deep(
    header: dict[str, Any],
    archive: zipfile.ZipFile,
    model_loader: Callable[[Any], Any] | None,
    allow_pickle: bool,
    in_file: Any,
) -> Any:
    """The torch DeepExplainer :func:`save_torch_deep` stored."""
    from shapwise.explainers.deep.torch_deep import TorchDeepExplainer

    options = decode_state(header, archive, _PREFIX)
    network = load_model(header["model"], archive, model_loader, allow_pickle, in_file)
    return TorchDeepExplainer(
        network,
        _background(options),
        batch_size=options["batch_size"],
        layer=options["layer"],
        silent=options["silent"],
    )


def save_tf_deep(explainer: Any, archive: zipfile.ZipFile, model_saver: Any) -> dict[str, Any]:
    """The header entries of a Keras DeepExplainer; its background and model into ``archive``."""
    options = {
        "background": [np.asarray(b) for b in explainer.background],
        "multi_input": explainer._multi_input,
        "feature_names": explainer.feature_names,
        "batch_size": explainer.batch_size,
    }
    return _store(
        options, explainer.model, archive, model_saver, options["background"], "the DeepExplainer"
    )


def load_tf_deep(
    header: dict[str, Any],
    archive: zipfile.ZipFile,
    model_loader: Callable[[Any], Any] | None,
    allow_pickle: bool,
    in_file: Any,
) -> Any:
    """The Keras DeepExplainer :func:`save_tf_deep` stored."""
    from shapwise.explainers.deep.tf_deep import TFDeepExplainer

    options = decode_state(header, archive, _PREFIX)
    network = load_model(header["model"], archive, model_loader, allow_pickle, in_file)
    explainer = TFDeepExplainer(network, _background(options), batch_size=options["batch_size"])
    explainer.feature_names = options["feature_names"]
    return explainer
