"""One entry point from any supported tree model to the node table.

Models are recognised by the module and name of their type (or of a base class, so subclasses
work), never by importing their library: ``import shapwise`` and this module load no tree library.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import parse_catboost, parse_lightgbm, parse_onnx, parse_sklearn, parse_xgboost
from ._table import TreeEnsemble

SUPPORTED_MODELS = (
    "scikit-learn: " + ", ".join(parse_sklearn.SUPPORTED),
    "xgboost: XGBRegressor, XGBClassifier, XGBRanker, XGBRFRegressor, XGBRFClassifier, Booster",
    "lightgbm: LGBMRegressor, LGBMClassifier, LGBMRanker, Booster",
    "catboost: CatBoostRegressor, CatBoostClassifier, CatBoostRanker, CatBoost",
    "onnx: a ModelProto with one TreeEnsembleRegressor or TreeEnsembleClassifier node",
)


def library_of(model: Any) -> str | None:
    """'sklearn', 'xgboost', 'lightgbm', 'catboost' or 'onnx' for a supported model, else None."""
    for kind in type(model).__mro__:
        library = kind.__module__.split(".")[0]
        name = kind.__name__
        if library == "sklearn" and name in parse_sklearn.SUPPORTED:
            return "sklearn"
        if library == "xgboost" and name in ("XGBModel", "Booster"):
            return "xgboost"
        if library == "lightgbm" and name in ("LGBMModel", "Booster"):
            return "lightgbm"
        if library == "catboost" and name == "CatBoost":
            return "catboost"
        if library == "onnx" and name == "ModelProto":
            return "onnx"
    return None


def is_tree_model(model: Any) -> bool:
    """Whether :func:`parse_model` reads this model (an ONNX graph: one with a tree ensemble
    node, so a network saved as ONNX goes to another explainer)."""
    library = library_of(model)
    if library == "onnx":
        nodes = getattr(getattr(model, "graph", None), "node", ())
        return any(node.op_type in parse_onnx.TREE_OPS for node in nodes)
    return library is not None


def parse_model(model: Any) -> TreeEnsemble:
    """The node table of a fitted tree model; a TypeError naming what is supported otherwise."""
    library = library_of(model)
    if library == "sklearn":
        return parse_sklearn.parse_sklearn(model)
    if library == "xgboost":
        return parse_xgboost.parse_xgboost(model)
    if library == "lightgbm":
        return parse_lightgbm.parse_lightgbm(model)
    if library == "catboost":
        return parse_catboost.parse_catboost(model)
    if library == "onnx":
        return parse_onnx.parse_onnx(model)
    name = f"{type(model).__module__}.{type(model).__name__}"
    hint = ""
    if type(model).__name__ == "Pipeline":
        hint = (
            " A Pipeline is not a tree model: explain its last step on the transformed data "
            "(pipeline[-1] with pipeline[:-1].transform(X)), or pass pipeline.predict to "
            "shapwise.Explainer."
        )
    raise TypeError(
        f"{name} is not a supported tree model.{hint} Supported: " + "; ".join(SUPPORTED_MODELS)
    )


def model_margin(model: Any, X: np.ndarray) -> np.ndarray:
    """The model's own raw output on numeric rows, which its parsed table reproduces."""
    library = library_of(model)
    if library is None:
        raise TypeError(f"{type(model).__name__} is not a supported tree model")
    module = {
        "sklearn": parse_sklearn,
        "xgboost": parse_xgboost,
        "lightgbm": parse_lightgbm,
        "catboost": parse_catboost,
        "onnx": parse_onnx,
    }[library]
    return module.model_margin(model, X)
