"""Explanation.save / load: no pickle in or out, mixed data kept, other files named for what they are."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from shapwise import Explanation


def _mixed() -> Explanation:
    data = np.array([[1.5, "red", None], [2, "blue", True]], dtype=object)
    return Explanation(
        np.arange(6.0).reshape(2, 3),
        base_values=np.array([0.5, 0.5]),
        data=data,
        feature_names=["size", "colour", "flag"],
    )


def test_mixed_data_is_stored_without_a_pickle(tmp_path):
    path = tmp_path / "mixed.npz"
    _mixed().save(path)
    with np.load(path, allow_pickle=False) as stored:  # would raise on any pickled array
        assert stored["data"].dtype.kind == "U"
    loaded = Explanation.load(path)
    assert loaded.data.tolist() == [[1.5, "red", None], [2, "blue", True]]
    assert [type(v) for v in loaded.data[1]] == [int, str, bool]
    assert loaded.feature_names == ["size", "colour", "flag"]
    np.testing.assert_array_equal(loaded.values, _mixed().values)


def test_a_path_without_suffix_gets_npz(tmp_path):
    _mixed().save(tmp_path / "explained")
    assert Explanation.load(tmp_path / "explained.npz").data.shape == (2, 3)


def test_unsavable_data_is_refused_before_the_old_file_is_touched(tmp_path):
    path = tmp_path / "kept.npz"
    _mixed().save(path)
    good = path.read_bytes()
    data = np.array([[pd.Timestamp("2024-01-01")]], dtype=object)
    with pytest.raises(TypeError, match="Timestamp.*cannot be saved without a pickle"):
        Explanation(np.ones((1, 1)), base_values=np.zeros(1), data=data).save(path)
    assert path.read_bytes() == good


@pytest.mark.parametrize(
    ("write", "says"),
    [
        (lambda p: p.write_bytes(pickle.dumps({"values": 1})), "it holds a pickle"),
        (lambda p: p.write_text("hello"), "no numpy archive"),
        (lambda p: np.save(p, np.ones(3)), "a single numpy array"),
        (lambda p: np.savez(p, values=np.ones(3)), "no shapwise metadata"),
    ],
)
def test_other_files_are_refused_by_what_they_are(tmp_path, write, says):
    path = tmp_path / "other.npz"
    write(path)
    if not path.exists():  # np.save adds .npy
        path = next(tmp_path.iterdir())
    with pytest.raises(ValueError) as caught:
        Explanation.load(path)
    message = str(caught.value)
    assert "is not a shapwise explanation" in message and says in message
    assert "allow_pickle" not in message


def test_standard_errors_and_bounds_are_saved(tmp_path):
    rng = np.random.default_rng(0)
    explanation = Explanation(
        rng.normal(size=(3, 4)),
        base_values=np.zeros(3),
        data=rng.normal(size=(3, 4)),
        error_std=rng.random((3, 4)),
        lower_bounds=np.full((3, 4), -1.0),
    )
    explanation.save(tmp_path / "e.npz")
    loaded = Explanation.load(tmp_path / "e.npz")
    np.testing.assert_array_equal(loaded.error_std, explanation.error_std)
    np.testing.assert_array_equal(loaded.lower_bounds, explanation.lower_bounds)
    assert loaded.upper_bounds is None
