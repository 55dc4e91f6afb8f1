"""shap's ``shap.explainers.tf_utils`` for Keras 3: a model's input and output tensors.

TensorFlow 1's sessions and graphs do not exist in eager TensorFlow 2 and Keras 3;
``_get_session`` and ``_get_graph`` say so and what to pass instead.
"""

from __future__ import annotations

import warnings
from typing import Any

from shapwise._optional import require
from shapwise.utils.general import safe_isinstance

tf: Any = None  # TensorFlow, once _import_tf has loaded it

_KERAS_MODELS = ["keras.Model", "tf_keras.Model"]


def _import_tf() -> None:
    """Load TensorFlow into this module's ``tf`` (an ImportError naming the extra if missing)."""
    global tf
    if tf is None:
        tf = require("tensorflow", "tf")


def _no_sessions(what: str) -> NotImplementedError:
    return NotImplementedError(
        f"{what} belong to TensorFlow 1, which Keras 3 and eager TensorFlow 2 do not have; "
        "pass the Keras model itself (or (inputs, output) tensors of a functional model) to "
        "DeepExplainer or GradientExplainer"
    )


def _get_session(session: Any) -> Any:
    """TensorFlow 1's session: not in Keras 3 (a NotImplementedError that says what to pass)."""
    raise _no_sessions("Sessions")


def _get_graph(explainer: Any) -> Any:
    """TensorFlow 1's graph: not in Keras 3 (a NotImplementedError that says what to pass)."""
    raise _no_sessions("Graphs")


def _unsupported(model: Any) -> ValueError:
    return ValueError(
        f"{type(model)} is not currently a supported model type! Pass a built Keras model or "
        "a tuple (inputs, output) of its tensors"
    )


def _keras_model(model: Any) -> bool:
    return safe_isinstance(model, _KERAS_MODELS)


def _symbolic(model: Any, attribute: str) -> list[Any]:
    try:
        return list(getattr(model, attribute))
    except (AttributeError, ValueError) as error:
        raise ValueError(
            f"the Keras model {model.name!r} has no symbolic {attribute} (a subclassed model, or "
            "one not built on keras.Input); build it as a functional or Sequential model with an "
            f"Input layer ({error})"
        ) from error


def _get_model_inputs(model: Any) -> Any:
    """The input tensors of a Keras model (``model.inputs``), or ``model[0]`` of an
    ``(inputs, output)`` tuple."""
    if _keras_model(model):
        return _symbolic(model, "inputs")
    if isinstance(model, tuple):
        return model[0]
    raise _unsupported(model)


def _get_model_output(model: Any) -> Any:
    """The output tensor of a Keras model (the first one, with a warning, for several), or
    ``model[1]`` of an ``(inputs, output)`` tuple."""
    if _keras_model(model):
        outputs = _symbolic(model, "outputs")
        if len(outputs) > 1:
            warnings.warn("Only one model output supported.", stacklevel=2)
        return outputs[0]
    if isinstance(model, tuple):
        return model[1]
    raise _unsupported(model)
