"""``explainer.save(f)`` / ``Explainer.load(f)`` and ``masker.save(f)`` / ``Masker.load(f)``, with
shap 0.51's ``model_saver`` / ``model_loader`` hooks, without pickles.

A saved file is a zip archive:

- ``state.json``: the explainer's or masker's state as JSON (numbers, strings, lists, the names
  of links, and objects of an allow-list of shapwise classes, rebuilt attribute by attribute);
- ``arrays/<n>.npy``: its numeric arrays, read back with ``allow_pickle=False``;
- ``model.*``: the model, in a format that cannot run code when read: scikit-learn estimators
  through skops (refused when they hold types skops does not trust), XGBoost's own JSON model
  format, or the bytes the user's ``model_saver`` wrote (read back by their ``model_loader``).
  A torch module is stored by torch.export (traced on a background row), a Keras model as a
  ``.keras`` archive (loaded with ``safe_mode``).
  ``model_saver="pickle"`` stores a pickle, which loads only with ``allow_pickle=True``.

Nothing is unpickled by default, and loading imports only shapwise's own classes.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import pickle
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

FORMAT = "shapwise-saved"
VERSION = 1

# Classes whose state a file may hold, by the name written in it (nothing else is rebuilt).
_ALLOWED = {
    "Independent": "shapwise.maskers.tabular",
    "Partition": "shapwise.maskers.tabular",
    "Impute": "shapwise.maskers.impute",
    "Image": "shapwise.maskers.image",
    "Fixed": "shapwise.maskers.fixed",
    "WeightedBackground": "shapwise.background",
    "Columns": "shapwise.numeric",
    "ExactExplainer": "shapwise.explainers.exact",
    "PermutationExplainer": "shapwise.explainers.permutation",
    "PartitionExplainer": "shapwise.explainers.partition",
    "KernelExplainer": "shapwise.explainers.kernel",
    "SamplingExplainer": "shapwise.explainers.sampling",
    "AdditiveExplainer": "shapwise.explainers.additive",
    "CoalitionExplainer": "shapwise.explainers.coalition",
}

# XGBoost's scikit-learn estimators, rebuilt empty and filled from XGBoost's JSON model format.
_XGBOOST_CLASSES = (
    "XGBRegressor",
    "XGBClassifier",
    "XGBRanker",
    "XGBRFRegressor",
    "XGBRFClassifier",
)


# Caches rebuilt on first use: saved as None.
_CACHES = frozenset({"_hierarchy", "_blurred", "_blurred_key"})


class SavingError(ValueError):
    """The explainer, masker or model cannot be saved or loaded safely as asked."""


# ------------------------------------------------------------------------------------ state
class _Encoder:
    """Turns attribute values into JSON, collecting numeric arrays on the side."""

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []

    def encode(self, value: Any, where: str) -> Any:
        from shapwise.links import Link
        from shapwise.models import Model

        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, np.generic) and value.dtype.kind in "biuf":
            return value.item()
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biufUS":
                raise SavingError(
                    f"{where} is an array of dtype {value.dtype}; only numeric and string arrays "
                    "are saved (nothing is pickled)"
                )
            self.arrays.append(np.ascontiguousarray(value))
            return {"__array__": len(self.arrays) - 1}
        if isinstance(value, np.dtype):
            return {"__dtype__": value.str}
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"__dict__": {k: self.encode(v, f"{where}[{k!r}]") for k, v in value.items()}}
        if isinstance(value, Link):
            return {"__link__": _link_name(value, where)}
        if isinstance(value, Model):
            return {"__model__": True}
        if (
            type(value).__name__ in _ALLOWED
            and type(value).__module__ == _ALLOWED[type(value).__name__]
        ):
            return {"__object__": type(value).__name__, "state": self.state(value, where)}
        raise SavingError(
            f"{where} is a {type(value).__name__}, which shapwise does not save; explainers and "
            "maskers are saved from numbers, arrays and their own classes only"
        )

    def state(self, obj: Any, where: str) -> dict[str, Any]:
        fields = (
            {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
            if dataclasses.is_dataclass(obj)
            else vars(obj)
        )
        return {
            name: None if name in _CACHES else self.encode(value, f"{where}.{name}")
            for name, value in fields.items()
        }


def _link_name(link: Any, where: str) -> str:
    from shapwise.explainers._kernel_inputs import clipped_logit
    from shapwise.links import identity, logit

    for name, known in (("identity", identity), ("logit", logit), ("clipped_logit", clipped_logit)):
        if link is known:
            return name
    raise SavingError(
        f"{where} is a custom link ({link.name}); only 'identity' and 'logit' are saved"
    )


def _links() -> dict[str, Any]:
    from shapwise.explainers._kernel_inputs import clipped_logit
    from shapwise.links import identity, logit

    return {"identity": identity, "logit": logit, "clipped_logit": clipped_logit}


class _Decoder:
    def __init__(self, arrays: list[np.ndarray], model: Any) -> None:
        self.arrays = arrays
        self.model = model

    def decode(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "__array__" in value:
            return self.arrays[int(value["__array__"])].copy()
        if "__dtype__" in value:
            return np.dtype(str(value["__dtype__"]))
        if "__tuple__" in value:
            return tuple(self.decode(v) for v in value["__tuple__"])
        if "__dict__" in value:
            return {k: self.decode(v) for k, v in value["__dict__"].items()}
        if "__link__" in value:
            return _links()[str(value["__link__"])]
        if "__model__" in value:
            return self.model
        if "__object__" in value:
            return self.rebuild(str(value["__object__"]), value["state"])
        raise SavingError(f"unknown entry in the saved state: {sorted(value)}")

    def rebuild(self, name: str, state: dict[str, Any]) -> Any:
        if name not in _ALLOWED:
            raise SavingError(f"the file names a class shapwise does not load: {name!r}")
        cls = getattr(importlib.import_module(_ALLOWED[name]), name)
        obj = object.__new__(cls)
        for attribute, encoded in state.items():
            object.__setattr__(obj, attribute, self.decode(encoded))
        return obj


# ------------------------------------------------------------------------------------ models
def _user_model(explainer: Any) -> tuple[Any, list[tuple[str, Any]]]:
    """The model as the user gave it (an estimator's bound method, a function) and the wrappers
    KernelExplainer put around it (outermost first)."""
    from shapwise.explainers._kernel_inputs import ArrayModel, FrameModel

    if explainer.model.source is not None:  # a torch module or Keras model
        return explainer.model.source, []
    predict = explainer.model._model_predict
    wrappers: list[tuple[str, Any]] = []
    while isinstance(predict, (FrameModel, ArrayModel)):
        if isinstance(predict, FrameModel):
            wrappers.append(("frame", list(predict.columns)))
        else:
            wrappers.append(("array", predict.dtype.str))
        predict = predict.model
    return predict, wrappers


def _rewrap(model: Any, wrappers: list[list[Any]]) -> Any:
    from shapwise.explainers._kernel_inputs import ArrayModel, FrameModel

    for kind, detail in reversed(wrappers):
        model = (
            FrameModel(model, detail) if kind == "frame" else ArrayModel(model, np.dtype(detail))
        )
    return model


def _save_model(
    model: Any, saver: Any, archive: zipfile.ZipFile, example: np.ndarray | None
) -> dict[str, Any]:
    """Store ``model`` as ``saver`` says (``example``: background rows, to trace a torch module
    with); returns how it was stored."""
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
        archive.writestr("model.pt2", _exported_torch(model, example))
        return {"how": "torch_export"}
    if framework == "tensorflow" and hasattr(model, "layers"):
        archive.writestr("model.keras", _keras_archive(model))
        return {"how": "keras"}
    owner = getattr(model, "__self__", None)
    method = getattr(model, "__name__", None)
    if owner is None or not hasattr(owner, "fit"):
        raise SavingError(
            f"the model ({type(model).__name__}) has no safe file format shapwise knows: pass "
            "model_saver and model_loader functions of your own, or model_saver=False and give "
            "the model again to load (model_loader=lambda _: model)"
        )
    module = type(owner).__module__
    if module.startswith("xgboost") and type(owner).__name__ in _XGBOOST_CLASSES:
        raw = owner.get_booster().save_raw("json")
        archive.writestr("model.xgboost.json", bytes(raw))
        return {"how": "xgboost", "class": type(owner).__name__, "method": method}
    import skops.io

    data = skops.io.dumps(owner)
    untrusted = _foreign_types(skops.io.get_untrusted_types(data=data))
    if untrusted:
        raise SavingError(
            f"skops cannot store {type(owner).__name__} safely: it holds types skops does not "
            f"trust ({', '.join(untrusted)}); pass model_saver and model_loader functions of "
            "your own"
        )
    archive.writestr("model.skops", data)
    return {"how": "skops", "method": method}


def _exported_torch(module: Any, example: np.ndarray | None) -> bytes:
    """``module`` as a torch.export archive, traced on background rows with any batch size."""
    import torch

    if example is None or np.ndim(example) < 2:
        raise SavingError(
            "a torch module is saved by torch.export, which needs background rows to trace it "
            "with; pass model_saver and model_loader functions of your own"
        )
    parameter = next(module.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.float32
    rows = torch.as_tensor(np.repeat(example[:1], 2, axis=0)).to(dtype)
    batch = torch.export.Dim("batch", min=1)
    was_training = module.training
    module.eval()
    try:
        exported = torch.export.export(module, (rows,), dynamic_shapes=({0: batch},))
    finally:
        module.train(was_training)
    stream = io.BytesIO()
    torch.export.save(exported, stream)
    return stream.getvalue()


def _keras_archive(model: Any) -> bytes:
    """``model`` as the bytes of a ``.keras`` archive."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.keras"
        model.save(path)
        return path.read_bytes()


def _through_file(data: bytes, suffix: str) -> Any:
    """A model read by ``model_io.load_model`` (safe formats only) from ``data``."""
    import tempfile
    from pathlib import Path

    from shapwise.model_io import load_model

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"model{suffix}"
        path.write_bytes(data)
        return load_model(path)


def _foreign_types(types: list[str]) -> list[str]:
    """The types skops does not trust that are not scikit-learn's own (whose classes skops
    rebuilds without running code from the file)."""
    return [name for name in types if name.split(".")[0] != "sklearn"]


def _load_model(
    stored: dict[str, Any],
    archive: zipfile.ZipFile,
    loader: Callable[[Any], Any] | None,
    allow_pickle: bool,
    in_file: Any,
) -> Any:
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
        return _through_file(archive.read("model.pt2"), ".pt2")
    if how == "keras":
        return _through_file(archive.read("model.keras"), ".keras")
    if how == "xgboost":
        import xgboost

        if stored["class"] not in _XGBOOST_CLASSES:
            raise SavingError(f"unknown XGBoost estimator {stored['class']!r}")
        estimator = getattr(xgboost, stored["class"])()
        estimator.load_model(bytearray(archive.read("model.xgboost.json")))
        return getattr(estimator, stored["method"])
    if how == "skops":
        import skops.io

        data = archive.read("model.skops")
        untrusted = skops.io.get_untrusted_types(data=data)
        foreign = _foreign_types(untrusted)
        if foreign:
            raise SavingError(
                f"the model in this file holds types that are not scikit-learn's ({foreign}); "
                "load it with a model_loader of your own if you trust the file"
            )
        estimator = skops.io.loads(data, trusted=untrusted)
        return getattr(estimator, stored["method"])
    raise SavingError(f"unknown model format in this file: {how!r}")


# ------------------------------------------------------------------------------------ files
def _write(out_file: Any, writer: Callable[[zipfile.ZipFile], None]) -> None:
    with zipfile.ZipFile(out_file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        writer(archive)


def _arrays_out(archive: zipfile.ZipFile, arrays: list[np.ndarray], prefix: str) -> None:
    for index, array in enumerate(arrays):
        stream = io.BytesIO()
        np.save(stream, array, allow_pickle=False)
        archive.writestr(f"{prefix}arrays/{index}.npy", stream.getvalue())


def _arrays_in(archive: zipfile.ZipFile, count: int, prefix: str) -> list[np.ndarray]:
    return [
        np.load(io.BytesIO(archive.read(f"{prefix}arrays/{i}.npy")), allow_pickle=False)
        for i in range(count)
    ]


def _header(archive: zipfile.ZipFile, kind: str) -> dict[str, Any]:
    try:
        header = json.loads(archive.read("state.json"))
    except KeyError:
        raise SavingError("this is not a file shapwise saved (no state.json)") from None
    if header.get("format") != FORMAT or header.get("kind") != kind:
        raise SavingError(f"this file does not hold a saved {kind}")
    if int(header.get("version", 0)) > VERSION:
        raise SavingError(
            f"this file was saved by a newer shapwise (format {header['version']}); upgrade"
        )
    return header


def _masker_state(masker: Any, saver: Any, archive: zipfile.ZipFile, prefix: str) -> Any:
    if saver is None or saver is False:
        return {"how": "none"}
    if callable(saver):
        stream = io.BytesIO()
        saver(masker, stream)
        archive.writestr(f"{prefix}masker.user", stream.getvalue())
        return {"how": "user"}
    encoder = _Encoder()
    state = encoder.encode(masker, "the masker")
    _arrays_out(archive, encoder.arrays, prefix)
    return {"how": "state", "state": state, "arrays": len(encoder.arrays)}


def save_masker(masker: Any, out_file: Any) -> None:
    """Write ``masker`` to ``out_file`` (a path or a binary file), pickle-free."""

    def writer(archive: zipfile.ZipFile) -> None:
        stored = _masker_state(masker, ".save", archive, "masker/")
        header = {"format": FORMAT, "version": VERSION, "kind": "masker", "masker": stored}
        archive.writestr("state.json", json.dumps(header))

    _write(out_file, writer)


def load_masker(in_file: Any, instantiate: bool = True) -> Any:
    """The masker :func:`save_masker` wrote."""
    with zipfile.ZipFile(in_file) as archive:
        stored = _header(archive, "masker")["masker"]
        arrays = _arrays_in(archive, stored["arrays"], "masker/")
        return _Decoder(arrays, None).decode(stored["state"])


def save_explainer(
    explainer: Any, out_file: Any, model_saver: Any = ".save", masker_saver: Any = ".save"
) -> None:
    """Write ``explainer`` (its options, masker and model) to ``out_file``."""
    from shapwise.maskers._base import Masker

    kind = type(explainer).__name__
    if kind not in _ALLOWED:
        raise SavingError(
            f"{kind} cannot be saved yet; Exact, Permutation, Partition, Kernel, Sampling, "
            "Additive and Coalition explainers can"
        )
    if not isinstance(explainer.masker, Masker) or explainer.masker.per_text:
        raise SavingError("only explainers of tabular and image maskers are saved")
    model, wrappers = _user_model(explainer)

    def writer(archive: zipfile.ZipFile) -> None:
        masker = _masker_state(explainer.masker, masker_saver, archive, "masker/")
        encoder = _Encoder()
        options = {
            k: None if k in _CACHES else v
            for k, v in vars(explainer).items()
            if k not in ("model", "masker")
        }
        state = encoder.encode(options, f"the {kind}")
        _arrays_out(archive, encoder.arrays, "explainer/")
        header = {
            "format": FORMAT,
            "version": VERSION,
            "kind": "explainer",
            "class": kind,
            "state": state,
            "arrays": len(encoder.arrays),
            "masker": masker,
            "model": _save_model(model, model_saver, archive, explainer.masker.data),
            "wrappers": wrappers,
            "batch_size": explainer.model.batch_size,
        }
        archive.writestr("state.json", json.dumps(header))

    _write(out_file, writer)


def load_explainer(
    in_file: Any,
    model_loader: Callable[[Any], Any] | None = None,
    masker_loader: Callable[[Any], Any] | None = None,
    instantiate: bool = True,
    allow_pickle: bool = False,
    expected: type | None = None,
) -> Any:
    """The explainer :func:`save_explainer` wrote; ``model_loader(file)`` / ``masker_loader(file)``
    give back what was stored by the user's own savers (or was not stored)."""
    from shapwise.explainers._base import as_masker
    from shapwise.models import as_model

    with zipfile.ZipFile(in_file) as archive:
        header = _header(archive, "explainer")
        name = header["class"]
        if name not in _ALLOWED:
            raise SavingError(f"the file names an explainer shapwise does not load: {name!r}")
        stored_masker = header["masker"]
        if masker_loader is not None:
            data = archive.read("masker/masker.user") if stored_masker["how"] == "user" else None
            masker = as_masker(masker_loader(io.BytesIO(data) if data is not None else in_file))
        elif stored_masker["how"] == "state":
            arrays = _arrays_in(archive, stored_masker["arrays"], "masker/")
            masker = _Decoder(arrays, None).decode(stored_masker["state"])
        else:
            raise SavingError(
                "this file was saved without its masker; pass masker_loader (e.g. "
                "masker_loader=lambda _: background)"
            )
        user_model = _load_model(header["model"], archive, model_loader, allow_pickle, in_file)
        model = as_model(_rewrap(user_model, header["wrappers"]), header["batch_size"])
        model.expect_columns(getattr(masker, "columns", None))
        arrays = _arrays_in(archive, header["arrays"], "explainer/")
        options = _Decoder(arrays, model).decode(header["state"])
    explainer = _Decoder([], model).rebuild(name, {})
    if expected is not None and not isinstance(explainer, expected):
        raise SavingError(f"this file holds a {name}, not a {expected.__name__}")
    explainer.__dict__.update(options)
    explainer.model = model
    explainer.masker = masker
    return explainer
