"""Tabular maskers: background handling, masking, and the feature clustering."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from shapwise.maskers import Independent, Partition, tabular
from tests.reference import leaves, linkage_to_tree


def test_independent_masks_with_background_values():
    background = np.arange(12.0).reshape(4, 3)
    masker = Independent(background)
    x = np.array([-1.0, -2.0, -3.0])
    masked = masker.masked_batch(np.array([[True, False, True], [False, False, False]]), x)
    assert masked.shape == (2, 4, 3)
    np.testing.assert_array_equal(masked[0][:, [0, 2]], np.tile([-1.0, -3.0], (4, 1)))
    np.testing.assert_array_equal(masked[0][:, 1], background[:, 1])
    np.testing.assert_array_equal(masked[1], background)
    np.testing.assert_array_equal(masker(np.array([True, True, True]), x)[0], np.tile(x, (4, 1)))


def test_background_is_subsampled_to_max_samples():
    background = np.random.default_rng(0).normal(size=(500, 2))
    masker = Independent(background, max_samples=100)
    assert masker.shape == (100, 2)
    assert {tuple(r) for r in masker.data} <= {tuple(r) for r in background}


def test_correlated_features_cluster_first():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 200))
    data = np.stack([a, b, a + 0.01 * rng.normal(size=200), b + 0.01 * rng.normal(size=200)], 1)
    tree = linkage_to_tree(Partition(data).clustering)
    groups = sorted(sorted(leaves(child)) for child in tree)
    assert groups == [[0, 2], [1, 3]]


def test_user_clustering_any_float_dtype_and_bad_shapes():
    data = np.random.default_rng(0).normal(size=(20, 3))
    linkage = np.array([[0, 1, 0.5, 2], [2, 3, 1.0, 3]], dtype=np.float16)
    assert Partition(data, clustering=linkage).clustering.dtype == np.float64
    with pytest.raises(ValueError, match=r"linkage matrix of shape \(2, 4\) for 3 features"):
        Partition(data, clustering=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="must be 2-D"):
        Independent(np.zeros((2, 3, 4)))


@pytest.fixture(params=["compiled", "numpy"])
def writer(request, monkeypatch):
    """Runs a test with the compiled masked-input writer and again with the numpy one."""
    if request.param == "compiled" and tabular._fill is None:
        pytest.skip("the compiled writer is not built here (no C compiler at install)")
    if request.param == "numpy":
        monkeypatch.setattr(tabular, "_fill", None)
    return request.param


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to build it")
def test_the_compiled_writer_is_built_where_a_compiler_is_present():
    assert tabular._fill is not None


@pytest.mark.parametrize("n_rows", [tabular.SCATTER_MIN_ROWS - 1, tabular.SCATTER_MIN_ROWS + 3])
@pytest.mark.parametrize("n_features", [1, 6, 300])
def test_masked_batch_into_a_reused_buffer_equals_the_definition(n_rows, n_features, writer):
    rng = np.random.default_rng(3)
    background = rng.normal(size=(n_rows, n_features))
    masker = Independent(background)
    buffer = np.full((5, n_rows, n_features), np.nan)
    for _ in range(3):  # stale contents of the buffer must never leak into a batch
        x = rng.normal(size=n_features)
        masks = rng.random((5, n_features)) < 0.5
        expected = np.where(masks[:, None, :], x, background[None])
        written = masker.masked_batch(masks, x, out=buffer)
        assert written is buffer
        np.testing.assert_array_equal(written, expected)
    # a buffer of the wrong shape is not used; a float32 one holds the values rounded to it
    fresh = masker.masked_batch(masks, x, out=np.empty((4, n_rows, n_features)))
    np.testing.assert_array_equal(fresh, expected)
    narrow = np.empty((5, n_rows, n_features), np.float32)
    assert masker.masked_batch(masks, x, out=narrow) is narrow
    np.testing.assert_array_equal(narrow, expected.astype(np.float32))


@pytest.mark.parametrize("n_rows", [tabular.SCATTER_MIN_ROWS - 1, tabular.SCATTER_MIN_ROWS + 3])
def test_masked_rows_of_several_rows_equal_the_definition(n_rows, writer):
    """Masks of several rows in one pass: mask k keeps the features of rows[owners[k]]; the
    default of the masker protocol (one masked_batch per row) gives the same."""
    from shapwise.maskers._base import Masker

    rng = np.random.default_rng(4)
    background = rng.normal(size=(n_rows, 5))
    rows = rng.normal(size=(3, 5))
    owners = np.array([0, 0, 1, 2, 2, 2])
    masks = rng.random((6, 5)) < 0.5
    expected = np.where(masks[:, None, :], rows[owners][:, None, :], background[None])
    masker = Independent(background)
    buffer = np.full((6, n_rows, 5), np.nan)
    assert masker.masked_rows(masks, rows, owners, out=buffer) is buffer
    np.testing.assert_array_equal(buffer, expected)
    np.testing.assert_array_equal(Masker.masked_rows(masker, masks, rows, owners), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_rows_copy_values_bit_for_bit_from_any_memory_layout(dtype, writer):
    """Signed zeros and subnormals keep their bits; a Fortran-ordered background (as pandas
    gives) and transposed masks (as Permutation builds) are read correctly."""
    rng = np.random.default_rng(5)
    tiny = np.finfo(dtype).smallest_subnormal
    background = np.asfortranarray(rng.normal(size=(7, 4)))
    background[0] = [-0.0, 0.0, tiny, -tiny]
    rows = np.array([[-0.0, tiny, 1.5, -2.0], [0.0, -tiny, -0.0, 3.0]])
    masks = (rng.random((4, 9)) < 0.5).T  # (9 masks, 4 features), not C-contiguous
    owners = np.repeat([0, 1], [5, 4])
    written = Independent(background).masked_rows(
        masks, rows, owners, out=np.empty((9, 7, 4), dtype)
    )
    expected = np.where(masks[:, None, :], rows[owners][:, None, :], background[None]).astype(dtype)
    assert written.dtype == dtype
    bits = np.uint32 if dtype == np.float32 else np.uint64
    np.testing.assert_array_equal(written.view(bits), expected.view(bits))


def test_compiled_writer_refuses_buffers_that_do_not_fit():
    if tabular._fill is None:
        pytest.skip("the compiled writer is not built here")
    background = np.zeros((3, 2))
    rows = np.zeros((2, 2))
    masks = np.ones((4, 2), bool)
    owners = np.zeros(4, np.int64)
    out = np.empty((4, 3, 2))
    tabular._fill.fill(out, background, rows, masks, owners, 3, 2, 8)
    with pytest.raises(ValueError, match="out holds 184 bytes, expected 192"):
        tabular._fill.fill(out.ravel()[:-1], background, rows, masks, owners, 3, 2, 8)
    with pytest.raises(ValueError, match="masks holds 6 bytes, expected 8"):
        tabular._fill.fill(out, background, rows, masks[:3], owners, 3, 2, 8)
    with pytest.raises(ValueError, match="owner 2 of mask 1 is not a row index"):
        tabular._fill.fill(out, background, rows, masks, np.array([0, 2, 0, 0]), 3, 2, 8)
    with pytest.raises(ValueError, match="itemsize must be 4"):
        tabular._fill.fill(out, background, rows, masks, owners, 3, 2, 2)
    with pytest.raises(ValueError, match="at least one background row"):
        tabular._fill.fill(out, background, rows, masks, owners, 0, 2, 8)
    with pytest.raises(ValueError, match="the sizes are too large"):  # would wrap around
        tabular._fill.fill(out, background, rows, masks, owners, 1, 2**61 + 1, 8)
    with pytest.raises(TypeError):  # a read-only output
        tabular._fill.fill(b"\0" * 192, background, rows, masks, owners, 3, 2, 8)


def test_masks_or_rows_of_another_width_are_refused(writer):
    masker = Independent(np.zeros((10, 3)))
    with pytest.raises(ValueError, match=r"masks of shape \(1, 2\) .* both need 3 columns"):
        masker(np.ones(2, bool), np.zeros(3))
    with pytest.raises(ValueError, match=r"rows of shape \(1, 4\) do not fit"):
        masker(np.ones(3, bool), np.zeros(4))


def _mixed_frame(n_rows: int):
    import pandas as pd

    rng = np.random.default_rng(n_rows)
    return pd.DataFrame(
        {
            "city": rng.choice(["paris", "rome", "oslo"], n_rows),
            "size": pd.Categorical(rng.choice(["S", "M", "L"], n_rows)),
            "age": rng.normal(size=n_rows),
        }
    )


@pytest.mark.parametrize("n_rows", [tabular.SCATTER_MIN_ROWS - 1, tabular.SCATTER_MIN_ROWS + 3])
def test_mixed_tables_are_masked_by_copying_values(n_rows, writer):
    frame = _mixed_frame(n_rows)
    masker = Independent(frame)
    assert masker.data.dtype == object and masker.feature_names == ["city", "size", "age"]
    assert masker.columns.dtypes == tuple(frame.dtypes)
    rows = _mixed_frame(2).to_numpy(dtype=object)
    rng = np.random.default_rng(1)
    masks = rng.random((7, 3)) < 0.5
    owners = np.array([0, 0, 0, 1, 1, 1, 1])
    background = frame.to_numpy(dtype=object)
    expected = np.where(masks[:, None, :], rows[owners][:, None, :], background[None, :, :])
    buffer = np.empty((7, n_rows, 3), dtype=object)
    out = masker.masked_rows(masks, rows, owners, out=buffer)
    assert out is buffer  # an object buffer is reused
    assert out.tolist() == expected.tolist()
    fresh = masker.masked_rows(masks, rows, owners, out=np.empty((7, n_rows, 3)))
    assert fresh.dtype == object and fresh.tolist() == expected.tolist()  # never rounded to floats


def test_rows_and_background_of_different_kinds_are_refused():
    mixed = Independent(_mixed_frame(4))
    with pytest.raises(TypeError, match="rows to explain are all numbers"):
        mixed.check_row(np.zeros(3))
    numeric = Independent(np.zeros((4, 3)))
    with pytest.raises(TypeError, match="rows to explain hold non-numeric columns"):
        numeric.check_row(np.array(["a", "b", 1.0], dtype=object))


def test_the_background_is_a_copy_of_the_callers_data():
    background = np.arange(12.0).reshape(4, 3)
    masker = Independent(background)
    assert not np.shares_memory(masker.data, background)
    np.testing.assert_array_equal(masker.data, background)


def test_a_clustering_of_mixed_tables_must_be_given():
    frame = _mixed_frame(5)
    with pytest.raises(TypeError, match="pass a linkage matrix as the clustering"):
        Partition(frame)
    linkage = np.array([[0.0, 1.0, 0.5, 2.0], [2.0, 3.0, 1.0, 3.0]])
    masker = Partition(frame, clustering=linkage)
    np.testing.assert_array_equal(masker.clustering, linkage)
