"""parse_model: every supported model by its type, a clear error for anything else, no eager imports."""

from __future__ import annotations

import subprocess
import sys

import catboost
import lightgbm
import numpy as np
import pytest
import xgboost
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shapwise.explainers.tree.parse import is_tree_model, library_of, model_margin, parse_model
from tests.explainers.tree.conftest import assert_same_margin


def _models(X, y):
    train = xgboost.DMatrix(X, label=y)
    return {
        "sklearn": RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(X, y),
        "xgboost": xgboost.XGBRegressor(n_estimators=3, max_depth=3).fit(X, y),
        "xgboost Booster": xgboost.train({"max_depth": 3}, train, num_boost_round=3),
        "lightgbm": lightgbm.LGBMRegressor(n_estimators=3, verbose=-1).fit(X, y),
        "lightgbm Booster": lightgbm.train(
            {"verbose": -1}, lightgbm.Dataset(X, label=y), num_boost_round=3
        ),
        "catboost": catboost.CatBoostRegressor(
            iterations=3, depth=3, verbose=0, allow_writing_files=False
        ).fit(X, y),
    }


def test_every_library_is_recognised_and_reproduced(regression, rows):
    X, y = regression
    finite = np.nan_to_num(rows)
    for name, model in _models(X, y).items():
        library = name.split(" ")[0]
        assert library_of(model) == library and is_tree_model(model)
        parsed = parse_model(model)
        assert parsed.library == library
        dtype = np.float32 if library == "xgboost" else np.float64
        assert_same_margin(parsed, finite, model_margin(model, finite), dtype=dtype)


def test_onnx_model_is_recognised(regression, rows):
    skl2onnx = pytest.importorskip("skl2onnx")
    X, y = regression
    forest = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    graph = skl2onnx.to_onnx(
        forest, X[:1].astype(np.float32), target_opset={"": 17, "ai.onnx.ml": 3}
    )
    assert library_of(graph) == "onnx"
    finite = np.nan_to_num(rows)
    assert_same_margin(parse_model(graph), finite, model_margin(graph, finite), dtype=np.float32)


def test_subclasses_are_recognised(regression):
    X, y = regression

    class MyBooster(xgboost.XGBRegressor):
        pass

    assert library_of(MyBooster(n_estimators=2).fit(X, y)) == "xgboost"


def test_non_tree_models_are_refused_with_what_is_supported(regression):
    X, y = regression
    with pytest.raises(TypeError, match="LinearRegression is not a supported tree model.*lightgbm"):
        parse_model(LinearRegression().fit(X, y))
    pipeline = make_pipeline(StandardScaler(), RandomForestRegressor(n_estimators=2)).fit(X, y)
    assert not is_tree_model(pipeline)
    with pytest.raises(TypeError, match="A Pipeline is not a tree model"):
        parse_model(pipeline)
    with pytest.raises(TypeError, match="not a supported tree model"):
        parse_model(lambda rows: rows.sum(axis=1))


def test_parsers_import_no_tree_library():
    code = (
        "import sys, shapwise\n"
        "import shapwise.explainers.tree.parse\n"
        "heavy = {'xgboost', 'lightgbm', 'catboost', 'onnx', 'onnxruntime', 'torch', 'tensorflow'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
