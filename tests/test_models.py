"""Model adapters give one batched f(X) -> (n, outputs) float64 for every kind of model."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import shapwise
from shapwise.models import as_model


def test_callable_batches_and_counts():
    calls = []

    def f(X):
        calls.append(len(X))
        return X.sum(axis=1)

    model = as_model(f, batch_size=4)
    out = model(np.ones((10, 3)))
    assert out.shape == (10, 1) and out.dtype == np.float64
    assert calls == [4, 4, 2]
    assert model.single_output is True
    assert model.n_evaluations == 10


def test_sklearn_classifier_uses_probabilities():
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = LogisticRegression().fit(X, y)
    np.testing.assert_allclose(as_model(clf)(X), clf.predict_proba(X))
    reg = LinearRegression().fit(X, X[:, 1])
    np.testing.assert_allclose(as_model(reg)(X)[:, 0], reg.predict(X))


def test_half_precision_outputs_become_float64():
    model = as_model(lambda X: (X @ np.ones(2)).astype(np.float16))
    out = model(np.ones((3, 2), dtype=np.float32))
    assert out.dtype == np.float64 and model.output_dtype == "float16"


def test_torch_module_eval_no_grad_own_dtype():
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Dropout(0.5)).to(torch.bfloat16)
    net.train()
    model = as_model(net)
    X = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    out = model(X)
    with torch.no_grad():
        expected = net.eval()(torch.tensor(X, dtype=torch.bfloat16)).float().numpy()
    net.train()
    np.testing.assert_array_equal(out, expected)
    assert model.output_dtype == "bfloat16" and net.training  # mode restored


def test_keras_model():
    keras = pytest.importorskip("keras")
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    X = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(as_model(net)(X), net.predict(X, verbose=0), rtol=1e-6)


def test_wrong_row_count_and_nan_output_are_errors():
    with pytest.raises(ValueError, match="returned 1 rows .* for 3 input rows"):
        as_model(lambda X: X[:1].sum(axis=1))(np.ones((3, 2)))
    with pytest.raises(ValueError, match="returned a scalar for 3 input rows"):
        as_model(lambda X: X.sum())(np.ones((3, 2)))
    with pytest.raises(ValueError, match="the output of .* contains 3 NaN"):
        as_model(lambda X: np.full(len(X), np.nan))(np.ones((3, 2)))
    with pytest.raises(TypeError, match="cannot explain a int"):
        as_model(3)


def test_estimators_fitted_on_frames_get_frames():
    import warnings

    import pandas as pd

    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(30, 2)), columns=["a", "b"])
    reg = LinearRegression().fit(frame, frame["a"] * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn warns when a frame-fitted model gets an array
        for model in (as_model(reg), as_model(reg.predict)):
            np.testing.assert_allclose(model(frame.to_numpy())[:, 0], reg.predict(frame))


def test_torch_submodules_keep_their_own_modes():
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Dropout(0.5))
    net.train()
    net[1].eval()  # fine-tuning with frozen batch statistics
    as_model(net)(np.ones((5, 3), dtype=np.float32))
    assert net.training and not net[1].training and net[2].training


def test_sklearn_trees_get_float32_inputs_with_identical_explanations():
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor, VotingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    import shapwise

    seen = []

    class RecordingBoosting(GradientBoostingRegressor):
        def predict(self, X):
            seen.append(X.dtype)
            return super().predict(X)

    X, y = load_diabetes(return_X_y=True)
    boosting = RecordingBoosting(n_estimators=20, random_state=0).fit(X, y)
    forest = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    assert as_model(forest.predict).input_array_dtype(np.float64) == np.float32
    assert as_model(Ridge().fit(X, y)).input_array_dtype(np.float64) == np.float64
    mixed = VotingRegressor(
        [("linear", make_pipeline(StandardScaler(), Ridge())), ("tree", DecisionTreeRegressor())]
    ).fit(X, y)
    assert as_model(mixed).input_array_dtype(np.float64) == np.float64  # not all trees

    # the trees round float64 inputs to float32 themselves: building them in float32 changes nothing
    narrow = shapwise.explainers.Exact(boosting, X[:20])(X[30:33]).values
    assert set(seen) == {np.dtype(np.float32)}
    seen.clear()
    wide = shapwise.explainers.Exact(lambda rows: boosting.predict(rows), X[:20])(X[30:33]).values
    assert set(seen) == {np.dtype(np.float64)}
    np.testing.assert_array_equal(narrow, wide)


def _feed(tuner, per_row: dict, calls: int, most: int = 10**9) -> list[int]:
    """Run ``calls`` full calls through the tuner with a synthetic time per row by size; the sizes
    it asked for."""
    asked = []
    for _ in range(calls):
        size = tuner.rows(most)
        asked.append(size)
        tuner.record(size, size, [per_row[size] * size])
    return asked


def test_batch_tuner_times_every_size_then_keeps_the_fastest():
    from shapwise.models import BATCH_ROWS_CANDIDATES, BatchTuner

    small, middle, large = BATCH_ROWS_CANDIDATES
    tuner = BatchTuner()
    asked = _feed(tuner, {small: 3e-7, middle: 2e-7, large: 1e-7}, 3 * BatchTuner.SAMPLES)
    assert asked == [small] * 3 + [middle] * 3 + [large] * 3  # each size in turn, smallest first
    later = _feed(tuner, {small: 3e-7, middle: 2e-7, large: 1e-7}, 60)
    assert later.count(large) >= 50 and later[-5:] == [large] * 5
    # the other way round (a model whose activations stay in cache): the smallest wins
    other = BatchTuner()
    _feed(other, {small: 1e-7, middle: 2e-7, large: 3e-7}, 9)
    later = _feed(other, {small: 1e-7, middle: 2e-7, large: 3e-7}, 200)
    assert later.count(small) >= 180 and later[-5:] == [small] * 5


def test_batch_tuner_times_other_sizes_again_and_recovers_from_a_slow_start():
    from shapwise.models import BATCH_ROWS_CANDIDATES, BatchTuner

    small, middle, large = BATCH_ROWS_CANDIDATES
    tuner = BatchTuner()
    # the first seconds of a process run slow: the small size, timed first, looks worst
    _feed(tuner, {small: 9e-7, middle: 2e-7, large: 3e-7}, 9)
    steady = {small: 1e-7, middle: 2e-7, large: 3e-7}
    asked = _feed(tuner, steady, 400)
    assert asked[:3] == [small] * 3  # the size timed longest ago is timed again
    assert asked[-20:] == [small] * 20  # and kept once its recent calls show it is fastest
    # re-timing stays rare: few calls go to the slowest size
    assert asked.count(large) <= 2 * BatchTuner.SAMPLES


def test_batch_tuner_ignores_short_calls_and_respects_the_element_cap():
    from shapwise.models import BatchTuner

    tuner = BatchTuner()
    tuner.record(4096, 100, [1.0])  # a call well short of its size is not a measure of it
    assert tuner.recent == {}
    # calls of 100 rows asked for at once: a last call of at least half its size counts for
    # its own rows, a shorter one not at all
    tuner.record(100, 250, [1.0, 2.0, 1.5])
    assert list(tuner.recent[100]) == [0.01, 0.02, 0.03]
    tuner.record(100, 140, [4.0, 0.4])
    assert list(tuner.recent[100]) == [0.02, 0.03, 0.04]
    assert tuner.rows(most=1000) == 1000  # every candidate above the cap collapses to it


def test_batch_tuner_drops_a_re_timing_that_a_smaller_cap_rules_out():
    from shapwise.models import BATCH_ROWS_CANDIDATES, BatchTuner

    small, middle, large = BATCH_ROWS_CANDIDATES
    per_row = {small: 1e-7, middle: 2e-7, large: 3e-7}
    tuner = BatchTuner()
    _feed(tuner, per_row, 9)
    _feed(tuner, per_row, 200)  # past FIRST_EXPLORE_ROWS: a size is due for re-timing
    tuner._rows = tuner._explore_at  # due now
    retimed = tuner.rows(most=10**9)
    assert retimed != small
    # inputs so wide that no candidate fits: the cap rules the re-timing out, and it is dropped
    per_row[1000] = 1e-7
    assert _feed(tuner, per_row, 4, most=1000) == [1000] * 4
    assert _feed(tuner, per_row, 5, most=10**9) == [small] * 5


def test_adapters_of_one_estimator_share_a_tuner_and_a_fixed_batch_size_skips_it():
    X = np.random.default_rng(0).normal(size=(30, 3))
    estimator = LinearRegression().fit(X, X[:, 0])
    assert as_model(estimator).tuner is as_model(estimator.predict).tuner
    assert as_model(LinearRegression().fit(X, X[:, 1])).tuner is not as_model(estimator).tuner
    fixed = as_model(estimator.predict, batch_size=7)
    fixed(np.zeros((20, 3)))
    assert fixed.n_calls == 3 and fixed.tuner.recent == {}


def test_nan_outputs_of_masked_rows_and_changing_output_counts_are_errors():
    background = np.array([[0.0, 1.0], [1000.0, 2.0], [3.0, 4.0]])

    def breaks_on_large(X):  # NaN only for masked rows holding the large background value
        return np.where(X[:, 0] > 100, np.nan, X.sum(axis=1))

    with pytest.raises(ValueError, match=r"the output of breaks_on_large contains \d+ NaN"):
        shapwise.explainers.Exact(breaks_on_large, background)(np.array([[1.0, 1.0]]))

    def outputs_by_batch(X):  # 2 outputs for full calls of 2 rows, 3 for a shorter one
        return np.ones((len(X), 2 if len(X) == 2 else 3))

    with pytest.raises(ValueError, match="returned 3 outputs per row in one call and 2 in"):
        as_model(outputs_by_batch, batch_size=2)(np.ones((5, 2)))


def test_a_size_being_timed_gets_only_the_calls_it_needs():
    """While the tuner times a size, a chunk of masked rows holds just its few calls, so a large
    explanation does not run long at a size that may be slow."""
    from shapwise.models import BATCH_ROWS_CANDIDATES, BatchTuner

    rng = np.random.default_rng(0)
    background, rows = rng.normal(size=(50, 10)), rng.normal(size=(8, 10))
    call_rows = []

    def model(X):
        call_rows.append(len(X))
        return X.sum(axis=1)

    shapwise.explainers.Exact(model, background)(rows, silent=True)
    assert call_rows.pop(0) == 50  # the background rows first (the empty coalition)
    small, middle, large = BATCH_ROWS_CANDIDATES
    samples = BatchTuner.SAMPLES
    # each size's first calls come in a chunk of their own (its last call may be a little short,
    # the chunk holding whole coalitions of 50 rows)
    assert all(small - 50 < n <= small for n in call_rows[:samples])
    assert all(middle - 50 < n <= middle for n in call_rows[samples : 2 * samples])
    assert all(large - 50 < n <= large for n in call_rows[2 * samples : 3 * samples])
    # then each row once (the full coalition), the other coalitions once per row and background
    # row
    assert sum(call_rows) == 8 + 8 * (2**10 - 2) * 50


def test_calls_whose_row_counts_only_add_up_are_errors():
    calls = []

    def uneven(X):  # one row short in the first call, one over in the second
        calls.append(len(X))
        return np.ones(len(X) - 1 if len(calls) == 1 else len(X) + 1)

    with pytest.raises(ValueError, match="returned 3 rows .* for 4 input rows"):
        as_model(uneven, batch_size=4)(np.ones((8, 2)))


def test_masked_rows_come_in_chunks_bounded_by_the_outputs_they_make(monkeypatch):
    from shapwise.explainers import _game
    from shapwise.models import Model

    monkeypatch.setattr(_game, "CHUNK_ELEMENTS", 40_000)
    chunks = []
    evaluate = Model.__call__

    def recording(self, X, *args, **kwargs):
        chunks.append(len(X))
        return evaluate(self, X, *args, **kwargs)

    monkeypatch.setattr(Model, "__call__", recording)
    rng = np.random.default_rng(0)
    background, rows = rng.normal(size=(10, 6)), rng.normal(size=(3, 6))
    weights = rng.normal(size=(6, 100))
    explanation = shapwise.explainers.Exact(lambda X: X @ weights, background, batch_size=100)(
        rows, silent=True
    )
    # the first chunk is one call (the outputs per row are not known yet), the others hold at
    # most 40,000 output values: 400 rows of 100 outputs
    assert chunks[0] <= 100 and max(chunks[1:]) <= 400 and len(chunks) > 3
    expected = (rows - background.mean(0))[:, :, None] * weights[None]
    np.testing.assert_allclose(explanation.values, expected, atol=1e-9)


def test_a_model_returning_a_dict_is_told_to_pick_an_array():
    model = as_model(lambda X: {"logits": X[:, :2], "hidden": X}, batch_size=10)
    with pytest.raises(TypeError, match=r"returned a dict \(keys 'logits', 'hidden'\)") as error:
        model(np.ones((3, 4)))
    assert "lambda X: model(X)['logits']" in str(error.value)


def _halves(X):
    X *= 0.5
    return X.sum(axis=1)


def _scales(X):
    X /= 255
    return X[:, 0] - 2 * X[:, 1]


def _in_place_torch_module():
    torch = pytest.importorskip("torch")

    class Halving(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

        def forward(self, x):
            x.mul_(0.5)
            return (x * self.scale).sum(dim=1)

    return Halving()


@pytest.mark.parametrize(
    ("writer", "pure"),
    [
        (_halves, lambda X: (0.5 * X).sum(axis=1)),
        (_scales, lambda X: X[:, 0] / 255 - 2 * X[:, 1] / 255),
        ("torch", lambda X: (0.5 * X).sum(axis=1)),
    ],
)
def test_a_model_writing_into_its_input_never_changes_the_callers_data(writer, pure):
    model = _in_place_torch_module() if writer == "torch" else writer
    rng = np.random.default_rng(4)
    background, X = rng.normal(size=(6, 3)), rng.normal(size=(4, 3))
    saved = background.tobytes(), X.tobytes()
    explainer = shapwise.explainers.Exact(model, background)
    top = explainer(X, outputs=shapwise.Explanation.argsort.flip[:1])  # ranks X by the model
    plain = explainer(X)
    expected_value = explainer.expected_value
    as_model(model)(X)
    assert (background.tobytes(), X.tobytes()) == saved
    # and the values are those of the same model without the writes
    reference = shapwise.explainers.Exact(pure, background)(X)
    np.testing.assert_allclose(plain.values, reference.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(top.values[..., 0], reference.values, rtol=0, atol=1e-12)
    assert expected_value == pytest.approx(pure(background).mean(), abs=1e-12)


def test_a_torch_model_writing_into_its_input_never_changes_a_callers_tensor():
    torch = pytest.importorskip("torch")
    module = _in_place_torch_module()
    background = torch.arange(12, dtype=torch.float64).reshape(4, 3)
    X = torch.linspace(-1, 1, 6, dtype=torch.float64).reshape(2, 3)
    saved = background.clone(), X.clone()
    explanation = shapwise.explainers.Exact(module, background)(X, outputs=[0])
    assert torch.equal(background, saved[0]) and torch.equal(X, saved[1])
    np.testing.assert_allclose(
        explanation.values.sum(axis=1)[:, 0] + explanation.base_values[:, 0],
        (0.5 * X.numpy()).sum(axis=1),
        atol=1e-12,
    )


def test_estimators_get_their_fitted_column_order_matched_by_name():
    import warnings

    import pandas as pd

    from shapwise.numeric import Columns

    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(30, 3)), columns=["a", "b", "c"])
    reg = LinearRegression().fit(frame, frame["a"] - 3 * frame["c"])
    order = ["c", "a", "b"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn's own check of names and order runs quietly
        for model in (as_model(reg), as_model(reg.predict)):
            model.expect_columns(Columns(tuple(order)))
            np.testing.assert_allclose(model(frame[order].to_numpy())[:, 0], reg.predict(frame))
    with pytest.raises(ValueError, match=r"missing 'c'; extra 'd'"):
        as_model(reg).expect_columns(Columns(("a", "b", "d")))
