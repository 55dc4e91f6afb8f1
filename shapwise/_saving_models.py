"""Models inside a saved explainer's archive, in formats that cannot run code when read.

How a model is stored (``model_saver=".save"``, the default), by what it is:

- a torch module: torch.export, traced on background rows with any batch size (on the CPU, so
  that the file loads on any machine);
- a Keras model: a ``.keras`` archive, loaded with ``safe_mode``;
- XGBoost (its scikit-learn estimators or a Booster): XGBoost's JSON model format;
- a LightGBM Booster: its model text (``model_to_string``); LightGBM's scikit-learn estimators
  through skops, trusting only LightGBM's own estimator and Booster types (a Booster keeps its
  state as that same model text);
- CatBoost: its own binary format (``.cbm``), read back by the saved class's ``load_model``;
- an ONNX graph: its protobuf bytes;
- any other scikit-learn estimator: skops, refused when it holds types skops does not trust.

An estimator's bound method (``model.predict_proba``) is stored as the estimator and the method's
name. ``model_saver`` may also be a function ``saver(model, file)`` (read back by the user's
``model_loader(file)``), False (nothing stored) or "pickle" (loaded only with ``allow_pickle``).
"""

from __future__ import annotations

import copy
import io
import pickle
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# XGBoost's scikit-learn estimators, rebuilt empty and filled from XGBoost's JSON model format.
XGBOOST_CLASSES = (
    "XGBRegressor",
    "XGBClassifier",
    "XGBRanker",
    "XGBRFRegressor",
    "XGBRFClassifier",
    "Booster",
)
CATBOOST_CLASSES = ("CatBoostRegressor", "CatBoostClassifier", "CatBoostRanker", "CatBoost")

# Types outside scikit-learn that skops may rebuild: LightGBM's estimators and its Booster, whose
# state is the model text LightGBM parses itself.
_TRUSTED_TYPES = frozenset(
    {
        "collections.OrderedDict",
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMRegressor",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRanker",
    }
)

SAVE_IT_YOURSELF = (
    "pass model_saver and model_loader functions of your own (model_saver(model, file) writes "
    "it, model_loader(file) returns it), or model_saver=False and give the model again to load "
    "(model_loader=lambda _: model)"
)


class SavingError(ValueError):
    """The explainer, masker or model cannot be saved or loaded safely as asked."""


# ------------------------------------------------------------------------------------ saving
def save_model(
    model: Any,
    saver: Any,
    archive: zipfile.ZipFile,
    examples: Sequence[np.ndarray] | np.ndarray | None,
) -> dict[str, Any]:
    """Store ``model`` in ``archive`` as ``saver`` says; returns how it was stored.

    ``examples``: background rows (one array per model input) to trace a torch module with.
    """
    if saver is None or saver is False:
        return {"how": "none"}
    if callable(saver):
        stream = io.BytesIO()
        saver(model, stream)
        archive.writestr("model.user", stream.getvalue())
        return {"how": "user"}
    if saver == "pickle":
        archive.writestr("model.pickle", pickle.dumps(model))
        return {"how": "pickle"}
    if saver not in (".save", "auto"):
        raise SavingError(
            f"model_saver must be '.save' (a safe format), 'pickle', False or a function "
            f"saver(model, file); got {saver!r}"
        )
    from shapwise.models import framework_of

    framework = framework_of(model)
    if framework == "torch" and hasattr(model, "parameters"):
        archive.writestr("model.pt2", exported_torch(model, examples))
        return {"how": "torch_export"}
    if framework == "tensorflow" and hasattr(model, "layers"):
        archive.writestr("model.keras", keras_archive(model))
        return {"how": "keras"}
    estimator, method = _estimator_of(model)
    if estimator is None:
        raise SavingError(
            f"the model ({type(model).__name__}) has no safe file format shapwise knows: "
            + SAVE_IT_YOURSELF
        )
    stored = _save_estimator(estimator, archive)
    stored["method"] = method
    return stored


def _library(model: Any) -> str | None:
    """'xgboost', 'lightgbm', 'catboost' or 'onnx' for their models, else None."""
    for kind in type(model).__mro__:
        root = kind.__module__.split(".")[0]
        if root in ("xgboost", "lightgbm", "catboost") or (
            root == "onnx" and kind.__name__ == "ModelProto"
        ):
            return root
    return None


def _estimator_of(model: Any) -> tuple[Any, str | None]:
    """(estimator, method name) of a bound method, (model, None) of a model object, or
    (None, None) for a function with no estimator behind it."""
    owner = getattr(model, "__self__", None)
    if owner is not None and (_library(owner) or hasattr(owner, "fit")):
        return owner, model.__name__
    if _library(model) or hasattr(model, "fit"):
        return model, None
    return None, None


def _first_class(model: Any, names: Sequence[str]) -> str | None:
    """The nearest class of ``model`` (itself or a base) named in ``names``."""
    return next((kind.__name__ for kind in type(model).__mro__ if kind.__name__ in names), None)


def _save_estimator(estimator: Any, archive: zipfile.ZipFile) -> dict[str, Any]:
    library = _library(estimator)
    known = {"xgboost": XGBOOST_CLASSES, "catboost": CATBOOST_CLASSES}.get(library or "")
    if known is not None and _first_class(estimator, known) is None:
        raise SavingError(
            f"{library}'s {type(estimator).__name__} is not a model shapwise saves (its "
            f"models: {', '.join(known)}); " + SAVE_IT_YOURSELF
        )
    if library == "xgboost":
        name = _first_class(estimator, XGBOOST_CLASSES)
        booster = estimator if name == "Booster" else estimator.get_booster()
        archive.writestr("model.xgboost.json", bytes(booster.save_raw("json")))
        return {"how": "xgboost", "class": name}
    if library == "lightgbm" and _first_class(estimator, ("Booster",)):
        archive.writestr("model.lightgbm.txt", estimator.model_to_string().encode())
        return {"how": "lightgbm"}
    if library == "catboost":
        name = _first_class(estimator, CATBOOST_CLASSES)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.cbm"
            estimator.save_model(str(path), format="cbm")
            archive.writestr("model.cbm", path.read_bytes())
        return {"how": "catboost", "class": name}
    if library == "onnx":
        archive.writestr("model.onnx", estimator.SerializeToString())
        return {"how": "onnx"}
    archive.writestr("model.skops", skops_bytes(estimator))
    return {"how": "skops"}


def skops_bytes(estimator: Any) -> bytes:
    """A scikit-learn (or LightGBM) estimator through skops; refused when it holds types skops
    does not trust beyond scikit-learn's own and LightGBM's estimators."""
    import skops.io

    data = skops.io.dumps(estimator)
    untrusted = _foreign_types(skops.io.get_untrusted_types(data=data))
    if untrusted:
        raise SavingError(
            f"skops cannot store {type(estimator).__name__} safely: it holds types skops does "
            f"not trust ({', '.join(untrusted)}); " + SAVE_IT_YOURSELF
        )
    return data


def _foreign_types(types: list[str]) -> list[str]:
    """The types skops does not trust that are neither scikit-learn's own (whose classes skops
    rebuilds without running code from the file) nor in :data:`_TRUSTED_TYPES`."""
    return [
        name for name in types if name.split(".")[0] != "sklearn" and name not in _TRUSTED_TYPES
    ]


def exported_torch(module: Any, examples: Sequence[np.ndarray] | np.ndarray | None) -> bytes:
    """``module`` as a torch.export archive, traced on background rows (one array per input)
    with any batch size."""
    import torch

    if isinstance(examples, np.ndarray):
        examples = [examples]
    if not examples or any(np.ndim(example) < 2 for example in examples):
        raise SavingError(
            "a torch module is saved by torch.export, which needs background rows to trace it "
            "with; " + SAVE_IT_YOURSELF
        )
    parameter = next(module.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.float32
    if parameter is not None and parameter.device.type != "cpu":
        module = copy.deepcopy(module).cpu()  # a program that loads on any machine
    inputs = tuple(
        torch.as_tensor(np.repeat(np.asarray(example)[:1], 2, axis=0)) for example in examples
    )
    inputs = tuple(x.to(dtype) if x.is_floating_point() else x for x in inputs)
    batch = torch.export.Dim("batch", min=1)
    was_training = module.training
    module.eval()
    try:
        exported = torch.export.export(
            module, inputs, dynamic_shapes=tuple({0: batch} for _ in inputs)
        )
    finally:
        module.train(was_training)
    stream = io.BytesIO()
    torch.export.save(exported, stream)
    return stream.getvalue()


def keras_archive(model: Any) -> bytes:
    """``model`` as the bytes of a ``.keras`` archive."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.read_bytes()


# ------------------------------------------------------------------------------------ loading
def load_model(
    stored: dict[str, Any],
    archive: zipfile.ZipFile,
    loader: Callable[[Any], Any] | None,
    allow_pickle: bool,
    in_file: Any,
    torch_module: bool = False,
) -> Any:
    """The model :func:`save_model` stored (``loader(file)`` for what the user's saver wrote or
    nothing stored); ``torch_module``: a torch.export archive comes back as a module to
    differentiate, not a batched function."""
    how = stored["how"]
    if loader is not None:
        data = archive.read("model.user") if how == "user" else None
        return loader(io.BytesIO(data) if data is not None else in_file)
    if how in ("none", "user"):
        reason = (
            "it was saved without its model"
            if how == "none"
            else "its model was written by your own model_saver"
        )
        raise SavingError(
            f"this file cannot give its model back: {reason}; pass model_loader (e.g. "
            "model_loader=lambda _: model)"
        )
    if how == "pickle":
        if not allow_pickle:
            raise SavingError(
                "the model in this file is a pickle, and loading a pickle can execute arbitrary "
                "code from the file; pass allow_pickle=True only for a file you trust"
            )
        return pickle.loads(archive.read("model.pickle"))  # the caller allowed it
    if how == "torch_export":
        if torch_module:
            from shapwise.model_io import load_exported_module

            return load_exported_module(io.BytesIO(archive.read("model.pt2")))
        return _through_file(archive.read("model.pt2"), ".pt2")
    if how == "keras":
        return _through_file(archive.read("model.keras"), ".keras")
    estimator = _load_estimator(how, stored, archive)
    method = stored.get("method")
    return estimator if method is None else getattr(estimator, method)


def _load_estimator(how: str, stored: dict[str, Any], archive: zipfile.ZipFile) -> Any:
    if how == "xgboost":
        import xgboost

        if stored["class"] not in XGBOOST_CLASSES:
            raise SavingError(f"unknown XGBoost model class {stored['class']!r}")
        estimator = getattr(xgboost, stored["class"])()
        estimator.load_model(bytearray(archive.read("model.xgboost.json")))
        return estimator
    if how == "lightgbm":
        import lightgbm

        return lightgbm.Booster(model_str=archive.read("model.lightgbm.txt").decode())
    if how == "catboost":
        import catboost

        if stored["class"] not in CATBOOST_CLASSES:
            raise SavingError(f"unknown CatBoost model class {stored['class']!r}")
        estimator = getattr(catboost, stored["class"])()
        estimator.load_model(blob=archive.read("model.cbm"))
        return estimator
    if how == "onnx":
        import onnx

        return onnx.load_model_from_string(archive.read("model.onnx"))
    if how == "skops":
        return skops_estimator(archive.read("model.skops"))
    raise SavingError(f"unknown model format in this file: {how!r}")


def skops_estimator(data: bytes) -> Any:
    """The estimator :func:`skops_bytes` stored, refused if the file holds foreign types."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=data)
    foreign = _foreign_types(untrusted)
    if foreign:
        raise SavingError(
            f"the model in this file holds types shapwise does not trust ({foreign}); load it "
            "with a model_loader of your own if you trust the file"
        )
    return skops.io.loads(data, trusted=untrusted)


def _through_file(data: bytes, suffix: str) -> Any:
    """A model read by ``model_io.load_model`` (safe formats only) from ``data``."""
    from shapwise.model_io import load_model as load_model_file

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"model{suffix}"
        path.write_bytes(data)
        return load_model_file(path)
