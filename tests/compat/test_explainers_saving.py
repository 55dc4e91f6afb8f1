"""shap's save/load programs, run with ``import shapwise as shap``: an explainer or masker written
to a file and read back gives the same values (bit for bit for exact explainers and seeded
sampling), the file holds no pickle unless asked, and a pickle loads only with allow_pickle."""

from __future__ import annotations

import io
import json
import pickle
import tempfile
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

import shapwise as shap
from shapwise._saving import SavingError


@pytest.fixture(scope="module")
def scenario():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 5)), columns=list("abcde"))
    y = X["a"] * X["b"] + np.sin(X["c"]) - X["e"]
    model = GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=0).fit(X, y)
    return model, X


def roundtrip(explainer, loader=None, **save_options):
    """shap's test_serialization: save to a temporary file, seek back, load."""
    with tempfile.TemporaryFile() as handle:
        explainer.save(handle, **save_options)
        handle.seek(0)
        entries = zipfile.ZipFile(handle).namelist()
        handle.seek(0)
        loaded = (loader or type(explainer).load)(handle)
    return loaded, entries


@pytest.mark.parametrize(
    "make",
    [
        lambda m, X: shap.explainers.Exact(m.predict, X.iloc[:20]),
        lambda m, X: shap.explainers.Permutation(m.predict, X.iloc[:20], seed=1),
        lambda m, X: shap.explainers.Partition(m.predict, shap.maskers.Partition(X.iloc[:20])),
        lambda m, X: shap.KernelExplainer(m.predict, X.iloc[:10], nsamples=60, random_state=2),
    ],
    ids=["exact", "permutation", "partition", "kernel"],
)
def test_explainers_come_back_with_the_same_values(scenario, make):
    model, X = scenario
    explainer = make(model, X)
    before = explainer(X.iloc[:4])
    loaded, entries = roundtrip(explainer)
    assert type(loaded) is type(explainer)
    assert "model.skops" in entries and not any("pickle" in entry for entry in entries)
    after = loaded(X.iloc[:4])
    np.testing.assert_array_equal(after.values, before.values)
    np.testing.assert_array_equal(after.base_values, before.base_values)
    assert after.feature_names == before.feature_names == list("abcde")


def test_the_factory_loads_any_saved_explainer_and_the_state_is_json(scenario):
    model, X = scenario
    explainer = shap.Explainer(model.predict, X.iloc[:20])
    handle = io.BytesIO()
    explainer.save(handle)
    handle.seek(0)
    header = json.loads(zipfile.ZipFile(handle).read("state.json"))
    assert header["class"] == "ExactExplainer" and header["model"]["how"] == "skops"
    handle.seek(0)
    loaded = shap.Explainer.load(handle)
    np.testing.assert_array_equal(loaded(X.iloc[:3]).values, explainer(X.iloc[:3]).values)


def test_no_model_or_masker_stored_and_given_back_by_loaders(scenario):
    model, X = scenario
    explainer = shap.explainers.Exact(model.predict, X.iloc[:20])
    handle = io.BytesIO()
    explainer.save(handle, model_saver=False, masker_saver=False)
    handle.seek(0)
    with pytest.raises(SavingError, match="model_loader"):
        shap.explainers.Exact.load(handle, masker_loader=lambda _: X.iloc[:20])
    handle.seek(0)
    loaded = shap.explainers.Exact.load(
        handle, model_loader=lambda _: model.predict, masker_loader=lambda _: X.iloc[:20]
    )
    np.testing.assert_array_equal(loaded(X.iloc[:3]).values, explainer(X.iloc[:3]).values)


def test_the_users_own_saver_and_loader(scenario):
    model, X = scenario
    explainer = shap.explainers.Exact(model.predict, X.iloc[:20])
    loaded, entries = roundtrip(
        explainer,
        loader=lambda f: shap.explainers.Exact.load(f, model_loader=pickle.load),
        model_saver=pickle.dump,
    )
    assert "model.user" in entries
    np.testing.assert_array_equal(loaded(X.iloc[:3]).values, explainer(X.iloc[:3]).values)


def test_a_pickled_model_loads_only_when_allowed(scenario):
    model, X = scenario
    explainer = shap.explainers.Exact(model.predict, X.iloc[:20])
    handle = io.BytesIO()
    explainer.save(handle, model_saver="pickle")
    handle.seek(0)
    with pytest.raises(SavingError, match="allow_pickle=True"):
        shap.explainers.Exact.load(handle)
    handle.seek(0)
    loaded = shap.explainers.Exact.load(handle, allow_pickle=True)
    np.testing.assert_array_equal(loaded(X.iloc[:3]).values, explainer(X.iloc[:3]).values)


def test_xgboost_models_are_stored_in_xgboosts_own_format(scenario):
    xgboost = pytest.importorskip("xgboost")
    _, X = scenario
    model = xgboost.XGBRegressor(n_estimators=10, max_depth=3).fit(X, X["a"] - X["d"] ** 2)
    explainer = shap.explainers.Exact(model.predict, X.iloc[:20])
    loaded, entries = roundtrip(explainer)
    assert "model.xgboost.json" in entries
    np.testing.assert_allclose(loaded(X.iloc[:3]).values, explainer(X.iloc[:3]).values)


def test_a_kernel_explainer_with_the_logit_link_and_data_frame_model(scenario):
    _, X = scenario
    classifier = LogisticRegression().fit(X, X["a"] > 0)
    explainer = shap.KernelExplainer(
        classifier.predict_proba, X.iloc[:8], link="logit", keep_index=True, nsamples=40
    )
    loaded, _ = roundtrip(explainer)
    np.testing.assert_array_equal(loaded(X.iloc[:2]).values, explainer(X.iloc[:2]).values)
    assert loaded.link is explainer.link and loaded.keep_index


def test_models_without_a_safe_format_and_tampered_files(scenario):
    _, X = scenario
    explainer = shap.explainers.Exact(lambda rows: rows.sum(axis=1), X.iloc[:5])
    with pytest.raises(SavingError, match="no safe file format"):
        explainer.save(io.BytesIO())
    handle = io.BytesIO()
    explainer.save(handle, model_saver=False)
    handle.seek(0)
    archive = zipfile.ZipFile(handle)
    header = json.loads(archive.read("state.json"))
    header["masker"]["state"]["__object__"] = "os.system"
    tampered = io.BytesIO()
    with zipfile.ZipFile(tampered, "w") as out:
        for name in archive.namelist():
            out.writestr(name, archive.read(name) if name != "state.json" else json.dumps(header))
    tampered.seek(0)
    with pytest.raises(SavingError, match="does not load"):
        shap.explainers.Exact.load(tampered, model_loader=lambda _: np.sum)


def maskers(X: np.ndarray):
    return {
        "independent": shap.maskers.Independent(X, max_samples=10),
        "independent_frame": shap.maskers.Independent(pd.DataFrame(X, columns=list("pqrs"))),
        "partition": shap.maskers.Partition(X, max_samples=12),
        "impute": shap.maskers.Impute(X),
        "kmeans": shap.kmeans(X, 3),
    }


@pytest.mark.parametrize("name", list(maskers(np.zeros((20, 4)))))
def test_tabular_maskers_come_back_hiding_features_the_same_way(name):
    X = np.random.default_rng(3).normal(size=(30, 4))
    masker = maskers(X)[name]
    handle = io.BytesIO()
    masker.save(handle)
    handle.seek(0)
    loaded = shap.maskers.Masker.load(handle)
    assert type(loaded) is type(masker)
    mask = np.array([True, False, True, False])
    for ours, theirs in zip(loaded(mask, X[0]), masker(mask, X[0]), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(loaded.clustering, masker.clustering)
    assert loaded.feature_names == masker.feature_names


@pytest.mark.parametrize("fill", ["blur(3,3)", "inpaint_telea", 0.5])
def test_image_and_fixed_maskers_come_back(fill):
    if isinstance(fill, str) and fill.startswith("inpaint"):
        pytest.importorskip("cv2")
    image = np.random.default_rng(4).random((8, 8, 3))
    masker = shap.maskers.Image(fill, image.shape)
    handle = io.BytesIO()
    masker.save(handle)
    handle.seek(0)
    loaded = shap.maskers.Image.load(handle)
    mask = np.random.default_rng(5).random(masker.shape[1]) > 0.5
    np.testing.assert_array_equal(loaded(mask, image)[0], masker(mask, image)[0])
    fixed = shap.maskers.Fixed()
    handle = io.BytesIO()
    fixed.save(handle)
    handle.seek(0)
    assert isinstance(shap.maskers.Fixed.load(handle), shap.maskers.Fixed)
    handle.seek(0)
    with pytest.raises(SavingError, match="not a Image"):
        shap.maskers.Image.load(handle)


def test_a_torch_module_is_stored_by_torch_export():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 2))
    background = np.random.default_rng(1).normal(size=(10, 4)).astype("float32")
    explainer = shap.explainers.Exact(net, background)
    loaded, entries = roundtrip(explainer)
    assert "model.pt2" in entries
    X = background[:3] + 0.5
    np.testing.assert_allclose(loaded(X).values, explainer(X).values, atol=1e-6)


def test_a_keras_model_is_stored_as_a_keras_archive():
    keras = pytest.importorskip("keras")
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(1)(keras.layers.Dense(6, activation="tanh")(inputs))
    model = keras.Model(inputs, outputs)
    background = np.random.default_rng(2).normal(size=(8, 4)).astype("float32")
    explainer = shap.explainers.Permutation(model, background, seed=0)
    loaded, entries = roundtrip(explainer)
    assert "model.keras" in entries
    X = background[:2] * 2
    np.testing.assert_allclose(loaded(X).values, explainer(X).values, atol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda X: shap.LinearExplainer(
            LogisticRegression().fit(X, X["a"] + X["b"] > 0), X.iloc[:30]
        ),
        lambda X: shap.LinearExplainer(
            LogisticRegression().fit(X, X["a"] > 0), shap.maskers.Impute(X.iloc[:30])
        ),
        lambda X: shap.LinearExplainer(
            LogisticRegression().fit(X, X["c"] > 0),
            X.iloc[:30],
            feature_perturbation="correlation_dependent",
        ),
    ],
    ids=["interventional", "impute", "correlation_dependent"],
)
def test_a_linear_explainer_needs_no_model_file(scenario, make):
    _, X = scenario
    explainer = make(X)
    loaded, entries = roundtrip(explainer)
    assert not any(entry.startswith("model") for entry in entries)
    assert loaded.feature_perturbation == explainer.feature_perturbation
    np.testing.assert_array_equal(loaded(X.iloc[:5]).values, explainer(X.iloc[:5]).values)
    np.testing.assert_array_equal(loaded.expected_value, explainer.expected_value)


@pytest.mark.parametrize("library", ["lightgbm", "catboost"])
def test_boosting_libraries_under_a_model_agnostic_explainer(scenario, library):
    """A bound predict_proba of LightGBM's or CatBoost's estimator travels in a format of the
    library's (skops trusting only LightGBM's own types; CatBoost's .cbm)."""
    pytest.importorskip(library)
    _, X = scenario
    labels = (X["a"] - X["c"] > 0).astype(int)
    if library == "lightgbm":
        import lightgbm

        model = lightgbm.LGBMClassifier(n_estimators=5, num_leaves=5, verbose=-1).fit(X, labels)
        entry = "model.skops"
    else:
        import catboost

        model = catboost.CatBoostClassifier(iterations=5, verbose=0, allow_writing_files=False)
        model.fit(X, labels)
        entry = "model.cbm"
    explainer = shap.explainers.Permutation(model.predict_proba, X.iloc[:15], seed=4)
    loaded, entries = roundtrip(explainer)
    assert entry in entries and not any("pickle" in e for e in entries)
    np.testing.assert_array_equal(loaded(X.iloc[:3]).values, explainer(X.iloc[:3]).values)


def test_explainers_that_cannot_be_saved_say_so(scenario):
    model, X = scenario
    explainer = shap.explainers.other.Random(model.predict, X.iloc[:10])
    with pytest.raises(SavingError, match="Random cannot be saved yet: save its model yourself"):
        explainer.save(io.BytesIO())
