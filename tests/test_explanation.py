"""Explanation indexing, reductions and persistence behave like shap's."""

from __future__ import annotations

import numpy as np
import pytest

from shapwise import Cohorts, Explanation


@pytest.fixture
def multi() -> Explanation:
    rng = np.random.default_rng(0)
    return Explanation(
        rng.normal(size=(6, 4, 3)),
        base_values=rng.normal(size=(6, 3)),
        data=rng.normal(size=(6, 4)),
        feature_names=["a", "b", "c", "d"],
        output_names=["x", "y", "z"],
    )


def test_axes_are_inferred(multi):
    assert multi.axis_kinds == ("row", "feature", "output")
    single = Explanation(np.zeros((5, 2)), base_values=np.zeros(5))
    assert single.axis_kinds == ("row", "feature")
    one_row = Explanation(np.zeros((4, 3)), base_values=np.zeros(3))
    assert one_row.axis_kinds == ("feature", "output")


def test_index_by_row_feature_and_output_names(multi):
    row = multi[0]
    assert row.shape == (4, 3) and row.base_values.shape == (3,) and row.data.shape == (4,)
    column = multi[:, "c"]
    np.testing.assert_array_equal(column.values, multi.values[:, 2])
    np.testing.assert_array_equal(column.data, multi.data[:, 2])
    assert column.feature_names == "c"
    output = multi[..., "y"]
    assert output.shape == (6, 4) and output.output_names == "y"
    np.testing.assert_array_equal(output.base_values, multi.base_values[:, 1])
    picked = multi[:, ["a", "d"], :]
    assert picked.feature_names == ["a", "d"] and picked.shape == (6, 2, 3)
    with pytest.raises(KeyError, match="no feature named 'q'"):
        multi[:, "q"]


def test_reductions(multi):
    mean = multi.abs.mean(0)
    np.testing.assert_allclose(mean.values, np.abs(multi.values).mean(0))
    np.testing.assert_allclose(mean.data, multi.data.mean(0))
    assert mean.feature_names == multi.feature_names
    total = multi.sum(1)
    np.testing.assert_allclose(total.values, multi.values.sum(1))
    assert multi.max(0).shape == (4, 3)
    order = multi[..., 0].abs.mean(0).argsort.flip
    assert list(order.values) == list(np.argsort(-np.abs(multi.values[..., 0]).mean(0)))
    assert len(multi) == 6 and np.asarray(multi).shape == (6, 4, 3)


def test_hstack_and_cohorts(multi):
    single = multi[..., 0]
    both = single.hstack(single)
    assert both.shape == (6, 8) and both.feature_names == ["a", "b", "c", "d"] * 2
    groups = single.cohorts(np.array(["u", "u", "v", "v", "v", "u"]))
    assert sorted(groups.cohorts) == ["u", "v"]
    assert groups.cohorts["v"].shape == (3, 4)
    means = groups.abs.mean(0)
    np.testing.assert_allclose(means.cohorts["u"].values, np.abs(single.values[[0, 1, 5]]).mean(0))
    found = single.cohorts(2)
    assert len(found.cohorts) == 2
    assert sum(len(e) for e in found.cohorts.values()) == 6
    with pytest.raises(ValueError, match="one entry per row"):
        single.cohorts(np.array(["u"]))


def test_save_load_roundtrip_without_pickle(multi, tmp_path):
    path = tmp_path / "exp.npz"
    multi.output_values = multi.values.sum(1) + multi.base_values
    multi.model_dtype = "float16"
    multi.save(path)
    loaded = Explanation.load(path)
    for field in ("values", "base_values", "data", "output_values"):
        np.testing.assert_array_equal(getattr(loaded, field), getattr(multi, field))
    assert loaded.feature_names == multi.feature_names and loaded.model_dtype == "float16"
    assert loaded.axis_kinds == multi.axis_kinds


def test_texts_of_different_lengths_index_row_by_row():
    """values and data hold one array per text; exp[i] is a plain explanation of its tokens."""
    from shapwise.explanation import object_array

    values = object_array([np.arange(6.0).reshape(3, 2), np.arange(2.0).reshape(1, 2)])
    tokens = object_array([np.array(["a ", "b ", "c"], object), np.array(["d"], object)])
    texts = Explanation(
        values,
        base_values=np.array([[0.5, 0.5], [0.1, 0.9]]),
        data=tokens,
        output_names=["x", "y"],
    )
    assert texts.ragged and texts.shape == (2, None, 2) and len(texts) == 2
    first = texts[0]
    assert not first.ragged and first.shape == (3, 2) and first.feature_names == ["a ", "b ", "c"]
    np.testing.assert_array_equal(first.base_values, [0.5, 0.5])
    second_output = texts[:, :, "y"]
    assert second_output.shape == (2, None) and second_output.output_names == "y"
    np.testing.assert_array_equal(second_output.values[0], [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(second_output.base_values, [0.5, 0.9])
    assert texts[..., 0][1].values.tolist() == [0.0]
    assert texts[[1]].shape == (1, None, 2) and texts[[1]].data[0].tolist() == ["d"]
    np.testing.assert_array_equal(texts.abs[0].values, np.abs(values[0]))
    refused = [lambda: texts.mean(0), lambda: texts.sum(), lambda: texts.argsort]
    for operation in [*refused, lambda: texts.hstack(texts), lambda: texts.cohorts(2)]:
        with pytest.raises(ValueError, match="texts with different numbers of tokens"):
            operation()


def test_a_scalar_explanation_has_no_axes(multi):
    total = multi[0, :, 0].sum()
    assert total.shape == () and total.axis_kinds == ()
    np.testing.assert_allclose(total.values, multi.values[0, :, 0].sum())


def test_texts_save_and_load_without_pickle(tmp_path):
    from shapwise.explanation import object_array

    texts = Explanation(
        object_array([np.arange(6.0).reshape(3, 2), np.arange(2.0).reshape(1, 2)]),
        base_values=np.array([[0.5, 0.5], [0.1, 0.9]]),
        data=object_array([np.array(["a ", "b ", "c"], object), np.array(["d"], object)]),
        clustering=object_array([np.array([[0, 1, 2, 2], [3, 2, 3, 3]], float), np.zeros((0, 4))]),
        output_names=["x", "y"],
        algorithm="partition",
    )
    texts.save(tmp_path / "texts.npz")
    loaded = Explanation.load(tmp_path / "texts.npz")
    assert loaded.ragged and loaded.shape == (2, None, 2) and loaded.output_names == ["x", "y"]
    for i in range(2):
        np.testing.assert_array_equal(loaded[i].values, texts[i].values)
        assert loaded[i].data.tolist() == texts[i].data.tolist()
        np.testing.assert_array_equal(loaded[i].clustering, texts[i].clustering)
    np.testing.assert_array_equal(loaded.base_values, texts.base_values)


def test_repr_is_shaps():
    """The repr matches the one shap 0.51 prints for the same explanation, field for field."""
    shap = pytest.importorskip("shap")
    rng = np.random.default_rng(1)
    values, base, data = rng.normal(size=(2, 3)), rng.normal(size=2), rng.normal(size=(2, 3))
    cases = [
        ((values,), {"base_values": 0.5}),
        ((values,), {"base_values": base, "data": data}),
        ((values,), {}),
    ]
    for args, kwargs in cases:
        assert repr(Explanation(*args, **kwargs)) == repr(shap.Explanation(*args, **kwargs))
    assert ".base_values =\n0.5" in repr(Explanation(values, base_values=0.5))
    assert ".data" not in repr(Explanation(values, base_values=base))


def test_shaps_other_keywords_are_stored_and_indexed_with_their_axes():
    rng = np.random.default_rng(2)
    values = rng.normal(size=(5, 3))
    bounds = values - 1.0
    display = np.array([[f"v{i}{j}" for j in range(3)] for i in range(5)], dtype=object)
    hierarchy = rng.normal(size=(5, 7))
    exp = Explanation(
        values,
        base_values=np.zeros(5),
        data=rng.normal(size=(5, 3)),
        display_data=display,
        instance_names=[f"row {i}" for i in range(5)],
        lower_bounds=bounds,
        upper_bounds=values + 1.0,
        error_std=np.full((5, 3), 0.25),
        main_effects=values * 0.5,
        hierarchical_values=hierarchy,
        compute_time=2.5,
    )
    picked = exp[[1, 3], 2]
    np.testing.assert_array_equal(picked.lower_bounds, bounds[[1, 3], 2])
    np.testing.assert_array_equal(picked.upper_bounds, values[[1, 3], 2] + 1.0)
    np.testing.assert_array_equal(picked.main_effects, values[[1, 3], 2] * 0.5)
    assert picked.display_data.tolist() == ["v12", "v32"]
    assert picked.instance_names.tolist() == ["row 1", "row 3"]
    np.testing.assert_array_equal(picked.hierarchical_values, hierarchy[[1, 3]])
    assert picked.compute_time == 2.5 and picked.error_std.tolist() == [0.25, 0.25]
    assert exp[4].instance_names == "row 4"
    copied = Explanation(exp)  # shap's copy constructor keeps values, base values and data
    np.testing.assert_array_equal(copied.values, exp.values)
    np.testing.assert_array_equal(copied.data, exp.data)


def test_cohorts_are_built_from_named_explanations(multi):
    single = multi[..., 0]
    groups = Cohorts(first=single[:2], rest=single[2:])
    assert list(groups.cohorts) == ["first", "rest"]
    np.testing.assert_allclose(
        groups.abs.mean(0).cohorts["rest"].values, np.abs(single.values[2:]).mean(0)
    )
    with pytest.raises(TypeError, match="must be Explanation objects"):
        Cohorts(first=single, second=np.zeros(3))
    with pytest.raises(TypeError, match="must be Explanation objects"):
        groups.cohorts = {"a": "not an explanation"}
    with pytest.raises(TypeError, match="must be a dict"):
        groups.cohorts = [single]


def test_hstack_raises_shaps_exceptions(multi):
    single = multi[..., 0]
    with pytest.raises(AssertionError, match="different numbers of rows"):
        single.hstack(single[:3])
    other = Explanation(single.values, base_values=single.base_values + 1.0)
    with pytest.raises(ValueError, match="different base values"):
        single.hstack(other)
    with pytest.raises(ValueError, match="different numbers of outputs .3 outputs vs no output"):
        multi.hstack(single)
    two = multi[..., :2]
    with pytest.raises(ValueError, match="3 outputs vs 2 outputs"):
        multi.hstack(two)
    joined = multi.hstack(multi)
    np.testing.assert_array_equal(joined.values, np.concatenate([multi.values] * 2, axis=1))


def test_hclust_and_sample_as_shap_has_them(multi):
    shap = pytest.importorskip("shap")
    single = multi[..., 0]
    theirs = shap.Explanation(single.values, base_values=single.base_values)
    np.testing.assert_array_equal(single.hclust(), theirs.hclust())
    np.testing.assert_array_equal(single.hclust(axis=1), theirs.hclust(axis=1))
    np.testing.assert_array_equal(Explanation.hclust().apply(single), single.hclust())
    np.testing.assert_allclose(Explanation.sum(1).apply(single).values, single.values.sum(1))
    picked = single.sample(4, random_state=1)
    assert picked.shape == (4, 4)
    rows = [int(np.flatnonzero((single.values == row).all(1))[0]) for row in picked.values]
    assert len(set(rows)) == 4  # without replacement
    np.testing.assert_array_equal(picked.data, single.data[rows])


def test_notes_of_what_was_not_attributed_exactly_travel_with_the_explanation(tmp_path):
    """An explainer's notes reach the Explanation and stay through indexing, saving and the
    report; an exact explainer has none."""
    import shapwise
    from shapwise.explainers.additive import ADDITIVE_NOTE
    from shapwise.report import explanation_html

    rng = np.random.default_rng(0)
    background = rng.normal(size=(20, 3))

    def model(X):
        return X[:, 0] + 2 * X[:, 1] * X[:, 2]

    noted = shapwise.explainers.Additive(model, background)(background[:4], check_additivity=False)
    assert noted.notes == (ADDITIVE_NOTE,)
    assert noted[1].notes == noted[:, 0].notes == noted.abs.mean(0).notes == (ADDITIVE_NOTE,)
    noted.save(tmp_path / "noted")
    assert Explanation.load(tmp_path / "noted.npz").notes == (ADDITIVE_NOTE,)
    assert "not attributed exactly: the values are main effects" in explanation_html(noted)
    exact = shapwise.explainers.Exact(model, background)(background[:4])
    assert exact.notes == ()
    assert "notes" not in repr(exact)


def test_arithmetic_acts_on_values_base_values_and_data():
    e = Explanation(
        values=np.array([[1.0, 2.0]]),
        base_values=np.array([0.5]),
        data=np.array([[3.0, 4.0]]),
        feature_names=["a", "b"],
        error_std=np.array([[0.1, 0.2]]),
    )
    for result, values, base, data in (
        (e * 2, [[2.0, 4.0]], [1.0], [[6.0, 8.0]]),
        (2 * e, [[2.0, 4.0]], [1.0], [[6.0, 8.0]]),
        (e + 1, [[2.0, 3.0]], [1.5], [[4.0, 5.0]]),
        (1 + e, [[2.0, 3.0]], [1.5], [[4.0, 5.0]]),
        (1 - e, [[0.0, -1.0]], [0.5], [[-2.0, -3.0]]),
        (e / 2, [[0.5, 1.0]], [0.25], [[1.5, 2.0]]),
        (-e, [[-1.0, -2.0]], [-0.5], [[-3.0, -4.0]]),
        (e - e, [[0.0, 0.0]], [0.0], [[0.0, 0.0]]),
    ):
        np.testing.assert_array_equal(result.values, values)
        np.testing.assert_array_equal(result.base_values, base)
        np.testing.assert_array_equal(result.data, data)
        assert result.feature_names == ["a", "b"]
        assert result.error_std is None  # no longer the values' errors
    np.testing.assert_array_equal((e * 2)[:, "b"].values, [4.0])
    np.testing.assert_array_equal((e * np.array([1.0, 10.0])).values, [[1.0, 20.0]])
