"""A TreeExplainer saved and loaded with ``import shapwise as shap``: for every tree library, the
loaded explainer gives the saved one's values and base values bit for bit (path-dependent and
interventional, raw and probability outputs), its model comes back in the library's own format
predicting what the original predicts, no file holds a pickle unless asked, and a pickle loads
only with allow_pickle."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestRegressor,
)

import shapwise as shap
from shapwise._saving import SavingError

lightgbm = pytest.importorskip("lightgbm")
xgboost = pytest.importorskip("xgboost")
catboost = pytest.importorskip("catboost")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=["age", "bmi", "bp", "s1"])
    y = X["age"] * X["bmi"] + np.sin(2 * X["bp"]) - 0.5 * X["s1"]
    return X, y.to_numpy(), (y > y.median()).to_numpy().astype(int)


def _catboost(kind, **options):
    return kind(iterations=8, depth=3, verbose=0, allow_writing_files=False, **options)


# name -> (build(X, y, labels), the model's own prediction, the stored model's archive entry)
MODELS = {
    "sklearn_forest": (
        lambda X, y, c: RandomForestRegressor(n_estimators=4, max_depth=4, random_state=0).fit(
            X, y
        ),
        lambda m, X: m.predict(X),
        "model.skops",
    ),
    "sklearn_boosting_classifier": (
        lambda X, y, c: GradientBoostingClassifier(n_estimators=6, random_state=0).fit(X, c),
        lambda m, X: m.decision_function(X),
        "model.skops",
    ),
    "sklearn_hist_boosting": (
        lambda X, y, c: HistGradientBoostingRegressor(max_iter=6, random_state=0).fit(X, y),
        lambda m, X: m.predict(X),
        "model.skops",
    ),
    "sklearn_isolation_forest": (
        lambda X, y, c: IsolationForest(n_estimators=5, random_state=0).fit(X),
        lambda m, X: m.score_samples(X),
        "model.skops",
    ),
    "xgboost_regressor": (
        lambda X, y, c: xgboost.XGBRegressor(n_estimators=6, max_depth=3).fit(X, y),
        lambda m, X: m.predict(X),
        "model.xgboost.json",
    ),
    "xgboost_multiclass": (
        lambda X, y, c: xgboost.XGBClassifier(n_estimators=4, max_depth=3).fit(
            X, np.digitize(y, np.quantile(y, [0.33, 0.66]))
        ),
        lambda m, X: m.predict_proba(X),
        "model.xgboost.json",
    ),
    "xgboost_booster": (
        lambda X, y, c: xgboost.train(
            {"max_depth": 3, "objective": "binary:logistic"}, xgboost.DMatrix(X, c), 5
        ),
        lambda m, X: m.predict(xgboost.DMatrix(X)),
        "model.xgboost.json",
    ),
    "lightgbm_regressor": (
        lambda X, y, c: lightgbm.LGBMRegressor(n_estimators=6, num_leaves=7, verbose=-1).fit(X, y),
        lambda m, X: m.predict(X),
        "model.skops",
    ),
    "lightgbm_classifier": (
        lambda X, y, c: lightgbm.LGBMClassifier(n_estimators=6, num_leaves=7, verbose=-1).fit(X, c),
        lambda m, X: m.predict_proba(X),
        "model.skops",
    ),
    "lightgbm_booster": (
        lambda X, y, c: lightgbm.train(
            {"objective": "binary", "num_leaves": 7, "verbose": -1}, lightgbm.Dataset(X, c), 6
        ),
        lambda m, X: m.predict(X),
        "model.lightgbm.txt",
    ),
    "catboost_regressor": (
        lambda X, y, c: _catboost(catboost.CatBoostRegressor).fit(X, y),
        lambda m, X: m.predict(X),
        "model.cbm",
    ),
    "catboost_classifier": (
        lambda X, y, c: _catboost(catboost.CatBoostClassifier).fit(X, c),
        lambda m, X: m.predict_proba(X),
        "model.cbm",
    ),
    "catboost_non_symmetric": (
        lambda X, y, c: _catboost(catboost.CatBoostRegressor, grow_policy="Depthwise").fit(X, y),
        lambda m, X: m.predict(X),
        "model.cbm",
    ),
}


def roundtrip(explainer, **options):
    """The explainer saved to memory and loaded back by TreeExplainer.load, and the entries of
    the file."""
    saving = {k: v for k, v in options.items() if k == "model_saver"}
    loading = {k: v for k, v in options.items() if k != "model_saver"}
    handle = io.BytesIO()
    explainer.save(handle, **saving)
    handle.seek(0)
    entries = zipfile.ZipFile(handle).namelist()
    handle.seek(0)
    return shap.TreeExplainer.load(handle, **loading), entries


def assert_same_explanations(loaded, explainer, X, **call):
    before, after = explainer(X, **call), loaded(X, **call)
    np.testing.assert_array_equal(after.values, before.values)
    np.testing.assert_array_equal(after.base_values, before.base_values)
    assert after.feature_names == before.feature_names
    expected, ours = explainer.expected_value, loaded.expected_value
    if callable(expected):  # the log loss's base value is a function of the label
        expected, ours = expected([0.0, 1.0]), ours([0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(expected))


@pytest.mark.parametrize("perturbation", ["tree_path_dependent", "interventional"])
@pytest.mark.parametrize("name", list(MODELS))
def test_every_library_comes_back_with_the_same_values(data, name, perturbation):
    X, y, labels = data
    build, predict, entry = MODELS[name]
    model = build(X, y, labels)
    background = X.iloc[:30] if perturbation == "interventional" else None
    explainer = shap.TreeExplainer(model, background, feature_perturbation=perturbation)
    loaded, entries = roundtrip(explainer)
    assert entry in entries and not any("pickle" in e for e in entries)
    assert type(loaded.model) is type(model)
    np.testing.assert_array_equal(predict(loaded.model, X.iloc[:20]), predict(model, X.iloc[:20]))
    assert loaded.feature_perturbation == perturbation
    assert_same_explanations(loaded, explainer, X.iloc[:15])
    np.testing.assert_array_equal(
        loaded.shap_interaction_values(X.iloc[:3]), explainer.shap_interaction_values(X.iloc[:3])
    )


@pytest.mark.parametrize(
    "name", ["sklearn_boosting_classifier", "xgboost_multiclass", "lightgbm_classifier"]
)
def test_probability_and_log_loss_outputs_come_back(data, name):
    X, y, labels = data
    model = MODELS[name][0](X, y, labels)
    explainer = shap.TreeExplainer(model, X.iloc[:20], model_output="probability")
    loaded, _ = roundtrip(explainer)
    assert loaded.model_output == "probability"
    assert_same_explanations(loaded, explainer, X.iloc[:6])
    if name != "xgboost_multiclass":
        loss = shap.TreeExplainer(model, X.iloc[:20], model_output="log_loss")
        loaded, _ = roundtrip(loss)
        assert_same_explanations(loaded, loss, X.iloc[:6], y=labels[:6])


def test_an_onnx_tree_ensemble_is_stored_as_its_protobuf(data):
    skl2onnx = pytest.importorskip("skl2onnx")
    X, y, _ = data
    forest = RandomForestRegressor(n_estimators=4, max_depth=4, random_state=0).fit(X.values, y)
    graph = skl2onnx.to_onnx(forest, X.values[:1].astype(np.float32), target_opset={"": 17})
    explainer = shap.TreeExplainer(graph, X.values[:25])
    loaded, entries = roundtrip(explainer)
    assert "model.onnx" in entries
    assert loaded.model.SerializeToString() == graph.SerializeToString()
    assert_same_explanations(loaded, explainer, X.values[:10])


def test_the_explainer_keeps_its_options_and_background(data):
    X, y, _ = data
    model = MODELS["lightgbm_regressor"][0](X, y, None)
    explainer = shap.TreeExplainer(
        model, X.iloc[:25], feature_names=list("ABCD"), memory_budget=1e5, max_exact_features=5
    )
    loaded, _ = roundtrip(explainer)
    np.testing.assert_array_equal(loaded.data, explainer.data)
    assert (loaded.memory_budget, loaded.max_exact_features) == (1e5, 5)
    assert loaded.feature_names == list("ABCD")
    # rows given as a DataFrame are still matched to the fitted columns by name
    shuffled = X.iloc[:5][["s1", "bp", "bmi", "age"]]
    np.testing.assert_array_equal(loaded(shuffled).values, explainer(X.iloc[:5]).values)


def test_without_its_model_the_node_table_explains(data):
    X, y, _ = data
    model = MODELS["xgboost_regressor"][0](X, y, None)
    explainer = shap.TreeExplainer(model)
    loaded, entries = roundtrip(explainer, model_saver=False)
    assert not any(e.startswith("model.") for e in entries)
    assert type(loaded.model).__name__ == "TreeEnsemble"
    assert_same_explanations(loaded, explainer, X.iloc[:8])
    # given back by the user's loader, the model is checked against the saved trees
    handle = io.BytesIO()
    explainer.save(handle, model_saver=False)
    handle.seek(0)
    other = xgboost.XGBRegressor(n_estimators=6, max_depth=3).fit(X, -y)
    with pytest.raises(ValueError, match="does not reproduce the model's own output"):
        shap.TreeExplainer.load(handle, model_loader=lambda _: other)


def test_a_pickled_model_loads_only_when_allowed(data):
    X, y, _ = data
    model = MODELS["sklearn_forest"][0](X, y, None)
    explainer = shap.TreeExplainer(model, X.iloc[:10])
    handle = io.BytesIO()
    explainer.save(handle, model_saver="pickle")
    handle.seek(0)
    assert "model.pickle" in zipfile.ZipFile(handle).namelist()
    handle.seek(0)
    with pytest.raises(SavingError, match="allow_pickle=True"):
        shap.TreeExplainer.load(handle)
    handle.seek(0)
    loaded = shap.TreeExplainer.load(handle, allow_pickle=True)
    assert_same_explanations(loaded, explainer, X.iloc[:5])


def test_a_file_naming_a_foreign_type_is_refused(data):
    """A skops entry that names a type beyond scikit-learn's and LightGBM's is not rebuilt."""
    import skops.io

    X, y, _ = data
    explainer = shap.TreeExplainer(MODELS["sklearn_forest"][0](X, y, None))
    handle = io.BytesIO()
    explainer.save(handle)
    handle.seek(0)
    archive = zipfile.ZipFile(handle)
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as out:
        for entry in archive.namelist():
            content = archive.read(entry)
            if entry == "model.skops":
                content = skops.io.dumps({"model": pd.Timestamp(0)})
            out.writestr(entry, content)
    tampered.seek(0)
    with pytest.raises(SavingError, match="does not trust"):
        shap.TreeExplainer.load(tampered)


def test_the_factory_and_a_path_on_disk(data, tmp_path):
    X, y, _ = data
    model = MODELS["catboost_regressor"][0](X, y, None)
    explainer = shap.Explainer(model)
    path = tmp_path / "tree.shapwise"
    explainer.save(path)
    header = json.loads(zipfile.ZipFile(path).read("state.json"))
    assert header["class"] == "TreeExplainer" and header["model"]["how"] == "catboost"
    loaded = shap.Explainer.load(path)
    assert_same_explanations(loaded, explainer, X.iloc[:5])
    with pytest.raises(SavingError, match="not a PermutationExplainer"):
        shap.explainers.Permutation.load(path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda table: table["left"].__setitem__(0, 10**6),  # a child beyond the table
        lambda table: table["right"].__setitem__(0, 0),  # a node that is its own child
        lambda table: table["feature"].__setitem__(0, 99),  # a feature the model lacks
    ],
    ids=["child_out_of_range", "cycle", "feature_out_of_range"],
)
def test_a_damaged_tree_table_is_refused(data, damage):
    """A file whose node table would send the compiled walk outside its arrays (or round in
    circles) is refused before anything walks it."""
    X, y, _ = data
    explainer = shap.TreeExplainer(MODELS["sklearn_forest"][0](X, y, None))
    handle = io.BytesIO()
    explainer.save(handle, model_saver=False)
    handle.seek(0)
    archive = zipfile.ZipFile(handle)
    header = json.loads(archive.read("state.json"))
    fields = header["state"]["__dict__"]["ensemble"]["state"]
    table = {}
    for name in ("left", "right", "feature"):
        entry = f"explainer/arrays/{fields[name]['__array__']}.npy"
        table[name] = np.load(io.BytesIO(archive.read(entry)))
    damage(table)
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as out:
        changed = {f"explainer/arrays/{fields[n]['__array__']}.npy": a for n, a in table.items()}
        for entry in archive.namelist():
            if entry in changed:
                stream = io.BytesIO()
                np.save(stream, changed[entry])
                out.writestr(entry, stream.getvalue())
            else:
                out.writestr(entry, archive.read(entry))
    tampered.seek(0)
    with pytest.raises(SavingError, match="tree table is damaged"):
        shap.TreeExplainer.load(tampered)
