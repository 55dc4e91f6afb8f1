"""Loading models and data from files for the command line, from formats that cannot run code.

A pickle (and anything ``torch.load`` can only read with ``weights_only=False``) may execute
arbitrary code while it loads, so it is refused with the reason and a safe format to use instead.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from shapwise._optional import require
from shapwise.models import Model
from shapwise.numeric import feature_names_of, to_numpy

PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill", ".cloudpickle", ".sav")
TORCH_SUFFIXES = (".pt", ".pth", ".ts", ".torchscript", ".jit")
SAFE_FORMATS = (
    "TorchScript (.pt, torch.jit.save), torch.export (.pt2, torch.export.save), "
    "Keras (.keras) or ONNX (.onnx)"
)
_ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
}


class UnsafeModelError(ValueError):
    """The model file can only be loaded by running code from it (a pickle)."""


class ModelLoadError(ValueError):
    """The file is not a model shapwise can load (wrong format, weights without architecture)."""


def _exists(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} file not found: {path}")
    if path.is_dir():
        raise ValueError(f"{what} path is a folder, not a file: {path}")
    return path


def _refuse_pickle(path: Path, detail: str = "") -> UnsafeModelError:
    return UnsafeModelError(
        f"refusing to load {path.name}: it is a pickle{detail}, and loading a pickle can execute "
        f"arbitrary code from the file; save the model as {SAFE_FORMATS} instead"
    )


def load_model(path: str | Path) -> Any:
    """A model from a safe file: a torch module, a Keras model, or a :class:`Model` (ONNX)."""
    path = _exists(path, "model")
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise _refuse_pickle(path)
    if suffix == ".pt2":
        return _load_exported(path)
    if suffix in TORCH_SUFFIXES:
        return _load_torch(path)
    if suffix == ".keras":
        if not zipfile.is_zipfile(path):
            raise ModelLoadError(
                f"{path.name} is not a Keras archive (a .keras file is a zip written by "
                "model.save('model.keras'))"
            )
        keras = require("keras", "tf")
        return keras.models.load_model(str(path), safe_mode=True, compile=False)
    if suffix == ".onnx":
        return _load_onnx(path)
    if suffix in (".h5", ".hdf5"):
        raise ModelLoadError(
            f"{path.name} is a legacy Keras HDF5 file; re-save it with model.save('model.keras')"
        )
    raise ModelLoadError(f"cannot tell the format of {path.name}; use {SAFE_FORMATS}")


def _load_torch(path: Path) -> Any:
    torch = require("torch", "torch")
    if not zipfile.is_zipfile(path):
        if _starts_with(path, b"\x80"):  # every pickle of protocol 2 or later
            raise _refuse_pickle(path, " (torch's legacy format)")
        raise ModelLoadError(
            f"{path.name} is not a torch model file: it is neither a TorchScript archive nor a "
            f"torch save; use {SAFE_FORMATS}"
        )
    with zipfile.ZipFile(path) as archive:
        is_script = any(name.endswith("constants.pkl") for name in archive.namelist())
    if is_script:
        module = torch.jit.load(str(path), map_location="cpu")
        module.eval()
        return module
    try:
        content = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError or RuntimeError by version
        if "weights_only" not in str(error) and "Unpickl" not in type(error).__name__:
            raise
        raise _refuse_pickle(path, " of a whole Python object (torch.save(model))") from error
    if isinstance(content, dict):
        raise ModelLoadError(
            f"{path.name} holds a state dict (weights only): it cannot be run without the Python "
            "class that defines the architecture; save the model itself with "
            "torch.jit.script(model).save(...) or torch.export.save(...)"
        )
    raise ModelLoadError(f"{path.name} holds a {type(content).__name__}, not a model")


def _load_exported(path: Path) -> Model:
    """A torch.export archive as a batched function (its module has no train/eval modes)."""
    torch = require("torch", "torch")
    module = torch.export.load(str(path)).module()
    parameter = next(module.parameters(), None)
    dtype = parameter.dtype if parameter is not None else torch.float32

    def predict(X: np.ndarray) -> Any:
        with torch.no_grad():
            return module(torch.as_tensor(X).to(dtype))

    return Model(predict, name=path.name, input_dtype=str(dtype).replace("torch.", ""))


def load_exported_module(source: str | Path | BinaryIO) -> Any:
    """A torch.export archive (a path or binary file) as a ``torch.nn.Module`` that can be
    differentiated, for explainers that take gradients through the model."""
    torch = require("torch", "torch")
    from shapwise._torch_exported import ExportedModule

    return ExportedModule(torch.export.load(source))


def _load_onnx(path: Path) -> Model:
    onnxruntime = require("onnxruntime", "onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelLoadError(f"{path.name} has {len(inputs)} inputs; shapwise explains one input")
    name, kind = inputs[0].name, inputs[0].type
    if kind not in _ONNX_DTYPES:
        raise ModelLoadError(f"{path.name} takes {kind}; shapwise explains float inputs")
    dtype = _ONNX_DTYPES[kind]

    def predict(X: np.ndarray) -> np.ndarray:
        return session.run(None, {name: X.astype(dtype, copy=False)})[0]

    return Model(predict, name=path.name, input_dtype=np.dtype(dtype).name)


def _starts_with(path: Path, magic: bytes) -> bool:
    with open(path, "rb") as stream:
        return stream.read(len(magic)) == magic


def _check_numpy_file(path: Path, magic: bytes) -> None:
    """Refuse a .npy/.npz file that is not one (numpy would read any other file as a pickle)."""
    if _starts_with(path, magic):
        return
    if _starts_with(path, b"\x80"):
        raise UnsafeModelError(
            f"refusing to read {path.name}: it is a pickle, and loading a pickle can execute "
            "arbitrary code; save plain numeric arrays with numpy.save"
        )
    kind = "an .npy array" if path.suffix.lower() == ".npy" else "an .npz archive"
    raise ValueError(f"{path.name} is not {kind}; write it with numpy.save / numpy.savez")


def _read_table(path: Path, header: bool | None) -> tuple[Any, bool]:
    """A CSV or Parquet file as a DataFrame, and whether it named its columns; a CSV's first line
    is a header unless every cell of it is a number (or ``header`` says otherwise)."""
    import pandas

    if path.suffix.lower() == ".parquet":
        return pandas.read_parquet(path), True
    try:
        first = pandas.read_csv(path, header=None, nrows=1, dtype=str)
    except pandas.errors.EmptyDataError:
        raise ValueError(f"{path.name} is empty: it has no rows") from None
    if header is None:
        header = not all(_is_number(cell) for cell in first.iloc[0])
    frame = pandas.read_csv(path, header=0 if header else None)
    if len(frame) == 0:
        raise ValueError(f"{path.name} is empty: it has a header line but no rows")
    return frame, header


def _is_number(cell: Any) -> bool:
    try:
        float(cell)
    except (TypeError, ValueError):
        return False
    return True


def load_data(
    path: str | Path, what: str = "data", header: bool | None = None
) -> tuple[np.ndarray, list[str] | None]:
    """Rows from .npy, .npz (one array, or the one named X/x/data), .csv or .parquet; returns
    (array, feature names or None). A CSV's header names the features; ``header`` None tells a
    header from a first line of numbers, True or False says."""
    path = _exists(path, what)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        _check_numpy_file(path, b"\x93NUMPY")
        return _numeric(
            _without_pickle(lambda: np.load(path, allow_pickle=False), path), path
        ), None
    if suffix == ".npz":
        _check_numpy_file(path, b"PK\x03\x04")
        with _without_pickle(lambda: np.load(path, allow_pickle=False), path) as stored:
            keys = list(stored.files)
            key = (
                keys[0]
                if len(keys) == 1
                else next((k for k in ("X", "x", "data") if k in keys), None)
            )
            if key is None:
                raise ValueError(f"{path.name} holds several arrays {keys}; name the rows 'X'")
            # An archive's arrays are read (and their pickles refused) only when accessed.
            return _numeric(_without_pickle(lambda: stored[key], path), path), None
    if suffix in (".csv", ".parquet"):
        frame, named = _read_table(path, header)
        text = [str(c) for c in frame.columns if frame[c].dtype.kind not in "fiub"]
        if text:
            raise ValueError(
                f"{path.name} has non-numeric columns {text[:5]}; encode them as numbers first"
            )
        return _numeric(frame, path), feature_names_of(frame) if named else None
    raise ValueError(f"cannot read {what} from {path.name}; use .npy, .npz, .csv or .parquet")


def _without_pickle(read: Callable[[], Any], path: Path) -> Any:
    """``read()`` (a numpy load with ``allow_pickle=False``), its refusal of objects made clear."""
    try:
        return read()
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise UnsafeModelError(
                f"refusing to read {path.name}: it holds Python objects (a pickle), and loading a "
                "pickle can execute arbitrary code; save plain numeric arrays"
            ) from error
        raise ValueError(f"{path.name} is not a valid numpy file: {error}") from error


def _numeric(array: Any, path: Path) -> np.ndarray:
    array = to_numpy(array, name=path.name)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if len(array) == 0:
        raise ValueError(f"{path.name} holds no rows")
    return array
