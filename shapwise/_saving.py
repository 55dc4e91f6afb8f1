"""``explainer.save(f)`` / ``Explainer.load(f)`` and ``masker.save(f)`` / ``Masker.load(f)``, with
shap 0.51's ``model_saver`` / ``model_loader`` hooks, without pickles.

A saved file is a zip archive:

- ``state.json``: the explainer's or masker's state as JSON (numbers, strings, lists, the names
  of links, and objects of an allow-list of shapwise classes, rebuilt attribute by attribute);
- ``<part>/arrays/<n>.npy``: its numeric arrays, read back with ``allow_pickle=False``;
- ``model.*``: the model, in a format that cannot run code when read (``_saving_models``), or
  the bytes the user's ``model_saver`` wrote (read back by their ``model_loader``);
  ``model_saver="pickle"`` stores a pickle, which loads only with ``allow_pickle=True``.

Explainers with their own layout: TreeExplainer (its parsed trees, ``_saving_trees``), the
Gradient and Deep explainers (background and network, ``_saving_networks``), LinearExplainer
(its coefficients and moments; it keeps no model) and explainers of texts (tokenizer and
transformers model by ``save_pretrained``, ``_saving_texts``).

Nothing is unpickled by default, and loading imports only shapwise's own classes.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from shapwise._saving_models import SavingError, load_model, save_model

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
    "TreeEnsemble": "shapwise.explainers.tree._table",
    "LinearExplainer": "shapwise.explainers.linear",
}

# Explainers saved by a module of their own: (module, saving function, loading function).
_OWN_FORMAT = {
    "TreeExplainer": ("shapwise._saving_trees", "save_tree", "load_tree"),
    "GradientExplainer": ("shapwise._saving_networks", "save_gradient", "load_gradient"),
    "TorchDeepExplainer": ("shapwise._saving_networks", "save_torch_deep", "load_torch_deep"),
    "TFDeepExplainer": ("shapwise._saving_networks", "save_tf_deep", "load_tf_deep"),
    "LinearExplainer": ("shapwise._saving", "save_model_free", "load_model_free"),
}

# Caches rebuilt on first use: saved as None.
_CACHES = frozenset({"_hierarchy", "_blurred", "_blurred_key"})


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


def encode_state(value: Any, where: str, archive: zipfile.ZipFile, prefix: str) -> dict[str, Any]:
    """``value`` as JSON, its arrays written to ``archive`` under ``prefix``; the entry that
    :func:`decode_state` reads back."""
    encoder = _Encoder()
    state = encoder.encode(value, where)
    _arrays_out(archive, encoder.arrays, prefix)
    return {"state": state, "arrays": len(encoder.arrays)}


def decode_state(
    entry: dict[str, Any], archive: zipfile.ZipFile, prefix: str, model: Any = None
) -> Any:
    """The value :func:`encode_state` wrote (``model`` stands where a Model adapter was)."""
    arrays = _arrays_in(archive, int(entry["arrays"]), prefix)
    return _Decoder(arrays, model).decode(entry["state"])


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
        if getattr(masker, "per_text", False):
            from shapwise._saving_texts import save_text_masker

            stored = save_text_masker(masker, archive)
        else:
            stored = _masker_state(masker, ".save", archive, "masker/")
        header = {"format": FORMAT, "version": VERSION, "kind": "masker", "masker": stored}
        archive.writestr("state.json", json.dumps(header))

    _write(out_file, writer)


def load_masker(in_file: Any, instantiate: bool = True) -> Any:
    """The masker :func:`save_masker` wrote."""
    with zipfile.ZipFile(in_file) as archive:
        stored = _header(archive, "masker")["masker"]
        if stored["how"] == "text":
            from shapwise._saving_texts import load_text_masker

            return load_text_masker(stored, archive)
        arrays = _arrays_in(archive, stored["arrays"], "masker/")
        return _Decoder(arrays, None).decode(stored["state"])


def save_explainer(
    explainer: Any, out_file: Any, model_saver: Any = ".save", masker_saver: Any = ".save"
) -> None:
    """Write ``explainer`` (its options, masker and model) to ``out_file``."""
    from shapwise.maskers._base import Masker

    kind = type(explainer).__name__
    if kind in _OWN_FORMAT:
        module, saving, _ = _OWN_FORMAT[kind]
        save = getattr(importlib.import_module(module), saving)

        def own_writer(archive: zipfile.ZipFile) -> None:
            entries = save(explainer, archive, model_saver)
            header = {"format": FORMAT, "version": VERSION, "kind": "explainer", "class": kind}
            archive.writestr("state.json", json.dumps({**header, **entries}))

        _write(out_file, own_writer)
        return
    if kind not in _ALLOWED or not kind.endswith("Explainer"):
        raise SavingError(
            f"{kind} cannot be saved yet: save its model yourself and build the explainer "
            "again after loading it; the Exact, Permutation, Partition, Kernel, Sampling, "
            "Additive, Coalition, Linear, Tree, Gradient and Deep explainers can be saved"
        )
    if not isinstance(explainer.masker, Masker):
        raise SavingError(
            f"the masker ({type(explainer.masker).__name__}) is a function; pass masker_saver "
            "and masker_loader functions of your own"
        )
    texts = bool(explainer.masker.per_text)
    if texts:
        from shapwise._saving_texts import is_text_model, save_text_masker, save_text_model
    text_model = texts and is_text_model(explainer.model)
    model, wrappers = (explainer.model, []) if text_model else _user_model(explainer)

    def writer(archive: zipfile.ZipFile) -> None:
        if texts and isinstance(masker_saver, str) and masker_saver in (".save", "auto"):
            masker = save_text_masker(explainer.masker, archive)
        else:
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
            "model": (
                save_text_model(model, model_saver, archive)
                if text_model
                else save_model(
                    model, model_saver, archive, getattr(explainer.masker, "data", None)
                )
            ),
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
        if name in _OWN_FORMAT:
            module, _, loading = _OWN_FORMAT[name]
            load = getattr(importlib.import_module(module), loading)
            explainer = load(header, archive, model_loader, allow_pickle, in_file)
            _check_expected(explainer, expected, name)
            return explainer
        if name not in _ALLOWED:
            raise SavingError(f"the file names an explainer shapwise does not load: {name!r}")
        stored_masker = header["masker"]
        if masker_loader is not None:
            data = archive.read("masker/masker.user") if stored_masker["how"] == "user" else None
            masker = as_masker(masker_loader(io.BytesIO(data) if data is not None else in_file))
        elif stored_masker["how"] == "text":
            from shapwise._saving_texts import load_text_masker

            masker = load_text_masker(stored_masker, archive)
        elif stored_masker["how"] == "state":
            arrays = _arrays_in(archive, stored_masker["arrays"], "masker/")
            masker = _Decoder(arrays, None).decode(stored_masker["state"])
        else:
            raise SavingError(
                "this file was saved without its masker; pass masker_loader (e.g. "
                "masker_loader=lambda _: background)"
            )
        if "text" in header["model"]:
            from shapwise._saving_texts import load_text_model

            user_model = load_text_model(
                header["model"], archive, model_loader, allow_pickle, in_file
            )
        else:
            user_model = load_model(header["model"], archive, model_loader, allow_pickle, in_file)
        model = as_model(_rewrap(user_model, header["wrappers"]), header["batch_size"])
        model.expect_columns(getattr(masker, "columns", None))
        arrays = _arrays_in(archive, header["arrays"], "explainer/")
        options = _Decoder(arrays, model).decode(header["state"])
    explainer = _Decoder([], model).rebuild(name, {})
    _check_expected(explainer, expected, name)
    explainer.__dict__.update(options)
    explainer.model = model
    explainer.masker = masker
    return explainer


def save_model_free(explainer: Any, archive: zipfile.ZipFile, model_saver: Any) -> dict[str, Any]:
    """The entries of an explainer that keeps no model (LinearExplainer keeps the coefficients):
    all its state."""
    return encode_state(vars(explainer), f"the {type(explainer).__name__}", archive, "explainer/")


def load_model_free(
    header: dict[str, Any],
    archive: zipfile.ZipFile,
    model_loader: Any,
    allow_pickle: bool,
    in_file: Any,
) -> Any:
    """The explainer :func:`save_model_free` stored."""
    explainer = _Decoder([], None).rebuild(str(header["class"]), {})
    explainer.__dict__.update(decode_state(header, archive, "explainer/"))
    return explainer


def _check_expected(explainer: Any, expected: type | None, name: str) -> None:
    if expected is not None and not isinstance(explainer, expected):
        raise SavingError(f"this file holds a {name}, not a {expected.__name__}")
