"""shap's TensorFlow form of a model, ``(inputs, output)``: Keras symbolic tensors of a functional
model (``(model.inputs, model.output)``, or a list of input tensors), made into a Keras model."""

from __future__ import annotations

from typing import Any


def _is_keras_tensor(value: Any) -> bool:
    return any(
        cls.__name__ == "KerasTensor" and cls.__module__.split(".")[0] in ("keras", "tf_keras")
        for cls in type(value).__mro__
    )


def is_tensor_pair(model: Any) -> bool:
    """Whether ``model`` is ``(input tensor or list of them, output tensor)`` of Keras."""
    if not isinstance(model, tuple) or len(model) != 2:
        return False
    inputs, output = model
    listed = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    return bool(listed) and all(map(_is_keras_tensor, listed)) and _is_keras_tensor(output)


def model_from_tensors(model: tuple[Any, Any]) -> Any:
    """The Keras model from the pair's input tensor(s) to its output tensor."""
    import keras

    inputs, output = model
    listed = list(inputs) if isinstance(inputs, (list, tuple)) else inputs
    try:
        return keras.Model(inputs=listed, outputs=output)
    except ValueError as error:
        raise ValueError(
            "could not build a model from these (inputs, output) tensors: the output must be "
            f"computed from the inputs in one functional Keras model ({error})"
        ) from error
