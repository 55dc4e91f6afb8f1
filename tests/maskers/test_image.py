"""Image masker: what hidden and visible pixels become, the split hierarchy, and Owen values on tiny images."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import is_valid_linkage, leaves_list

from shapwise.explainers.partition import PartitionExplainer
from shapwise.maskers import Image
from shapwise.maskers.image import image_linkage
from tests.reference import linkage_to_tree, owen_values

METHODS = ["blur(3,3)", "inpaint_telea", "inpaint_ns", 0.5]


def _image(shape, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, size=shape).astype(np.uint8)
    return rng.random(shape).astype(dtype)


@pytest.mark.parametrize(
    "shape, channel_axis", [((4, 4, 1), 2), ((6, 6, 3), 2), ((3, 6, 5), 0), ((5, 7), None)]
)
def test_hierarchy_is_a_valid_linkage_over_every_value(shape, channel_axis) -> None:
    linkage = image_linkage(shape, channel_axis)
    n = int(np.prod(shape))
    assert linkage.shape == (n - 1, 4)
    assert is_valid_linkage(linkage)
    assert sorted(leaves_list(linkage)) == list(range(n))


def test_hierarchy_splits_space_first_and_keeps_pixels_whole() -> None:
    """The first split halves the longest side; a pixel's channels join before any two pixels."""
    linkage = image_linkage((4, 2, 3), 2)
    n = 24
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    for k, row in enumerate(linkage):
        members[n + k] = members[int(row[0])] + members[int(row[1])]
    pixel_row = lambda leaf: leaf // 6  # noqa: E731
    root = linkage[-1]
    assert {pixel_row(leaf) for leaf in members[int(root[0])]} == {0, 1}
    assert {pixel_row(leaf) for leaf in members[int(root[1])]} == {2, 3}
    for k in range(len(linkage)):
        leaves = members[n + k]
        pixels = {leaf // 3 for leaf in leaves}
        assert (len(leaves) < 3 and len(pixels) == 1) or len(leaves) == 3 * len(pixels)


@pytest.mark.parametrize("mask_value", METHODS)
@pytest.mark.parametrize("dtype", [np.uint8, np.float16, np.float32])
@pytest.mark.parametrize("channels_last", [True, False])
def test_visible_pixels_are_never_changed(mask_value, dtype, channels_last) -> None:
    shape = (8, 8, 3) if channels_last else (3, 8, 8)
    image = _image(shape, dtype)
    masker = Image(mask_value, shape)
    masks = np.random.default_rng(1).random((6, masker.shape[1])) < 0.5
    masks[0] = False
    masks[1] = True
    out = masker.masked_batch(masks, image)
    assert out.shape == (6, 1, *shape)
    assert out.dtype == np.float32
    visible = masks.reshape(6, *shape)
    expected = np.broadcast_to(image.astype(np.float32), out[:, 0].shape)
    np.testing.assert_array_equal(out[:, 0][visible], expected[visible])
    assert np.isfinite(out).all()
    if mask_value == 0.5:
        assert (out[:, 0][~visible] == 0.5).all()


def test_float_inpainting_is_not_rounded_to_bytes() -> None:
    image = _image((8, 8, 3), np.float32) * 0.01  # every value would round to 0 as uint8
    masker = Image("inpaint_telea", image.shape)
    mask = np.ones(masker.shape[1], dtype=bool)
    mask.reshape(8, 8, 3)[2:5, 2:5] = False
    out = masker.masked_batch(mask[None], image)[0, 0]
    hidden = out[2:5, 2:5]
    assert hidden.max() > 0 and hidden.max() <= image.max() + 1e-6


def test_blur_and_layouts_agree() -> None:
    hwc = _image((8, 6, 3))
    chw = np.moveaxis(hwc, -1, 0)
    masks_hwc = np.zeros((1, hwc.size), dtype=bool)
    out_hwc = Image("blur(3,3)", hwc.shape).masked_batch(masks_hwc, hwc)[0, 0]
    out_chw = Image("blur(3,3)", chw.shape).masked_batch(masks_hwc, chw)[0, 0]
    np.testing.assert_allclose(np.moveaxis(out_chw, 0, -1), out_hwc, rtol=1e-6)
    assert not np.allclose(out_hwc, hwc)


def test_each_image_is_masked_anew() -> None:
    """No stale blur between rows: the hidden values follow the image given."""
    masker = Image("blur(2,2)", (6, 6, 1))
    empty = np.zeros((1, 36), dtype=bool)
    first, second = _image((6, 6, 1), seed=1), _image((6, 6, 1), seed=2)
    a = masker.masked_batch(empty, first)
    b = masker.masked_batch(empty, second)
    again = masker.masked_batch(empty, first)
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, again)


def test_empty_is_constant_only_for_constant_values() -> None:
    assert Image(0.0, (4, 4, 3)).empty_is_constant
    assert Image(np.zeros((4, 4, 3))).empty_is_constant
    assert not Image("blur(2,2)", (4, 4, 3)).empty_is_constant
    assert not Image("inpaint_ns", (4, 4, 3)).empty_is_constant


def _owen_reference(model, masker, image, n_outputs):
    cache: dict = {}

    def game(coalition):
        if coalition not in cache:
            mask = np.zeros(masker.shape[1], dtype=bool)
            mask[list(coalition)] = True
            cache[coalition] = model(masker(mask, image)[0])[0]
        return cache[coalition]

    tree = linkage_to_tree(masker.clustering)
    return np.stack([owen_values(lambda s, o=o: game(s)[o], tree) for o in range(n_outputs)], -1)


def _image_model(shape, n_outputs, seed=0):
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(int(np.prod(shape)), n_outputs))

    def model(images):
        flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        return np.tanh(flat @ weights / 4) + (flat[:, :1] * flat[:, -1:]) ** 2

    return model


@pytest.mark.parametrize(
    "shape, mask_value, n_outputs",
    [((4, 4, 1), "blur(2,2)", 1), ((4, 4, 1), "inpaint_telea", 2), ((6, 6, 3), 0.0, 2)],
)
def test_partition_on_tiny_images_is_exact_owen(shape, mask_value, n_outputs) -> None:
    masker = Image(mask_value, shape)
    model = _image_model(shape, n_outputs)
    images = np.stack([_image(shape, seed=s) for s in (3, 4)])
    explainer = PartitionExplainer(model, masker)
    budget = explainer.hierarchy().owen_evaluations()
    explanation = explainer(images, max_evals=budget)
    assert explanation.values.shape == (2, *shape, n_outputs)
    truth = _owen_reference(model, masker, images[0], n_outputs)
    np.testing.assert_allclose(explanation.values[0].reshape(-1, n_outputs), truth, atol=1e-10)


def test_partition_on_images_is_additive_at_small_budgets() -> None:
    shape = (8, 8, 3)
    masker = Image("blur(3,3)", shape)
    model = _image_model(shape, 3)
    images = (np.stack([_image(shape, seed=s) for s in (5, 6)]) * 255).astype(np.uint8)
    for budget in (10, 50, 200):
        explanation = PartitionExplainer(model, masker)(images, max_evals=budget)
        totals = explanation.values.reshape(2, -1, 3).sum(axis=1) + explanation.base_values
        np.testing.assert_allclose(totals, explanation.output_values, atol=1e-10)
        np.testing.assert_allclose(
            explanation.output_values, model(images.astype(np.float32)), atol=1e-10
        )


def test_bad_input_raises_clear_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown mask_value 'smudge\(3\)'.*blur\(kx,ky\)"):
        Image("smudge(3)", (8, 8, 3))
    with pytest.raises(ValueError, match="needs the shape of one image"):
        Image("blur(3,3)")
    with pytest.raises(ValueError, match="does not broadcast to the image shape"):
        Image(np.zeros((5, 5)), (8, 8, 3))
    with pytest.raises(ValueError, match="mask_value contains 1 NaN"):
        Image(np.array([np.nan, 0.0, 0.0]), (8, 8, 3))
    masker = Image("blur(3,3)", (8, 8, 3))
    explainer = PartitionExplainer(lambda x: x.reshape(len(x), -1).sum(1), masker)
    with pytest.raises(
        ValueError, match=r"an image of shape \(6, 6, 3\) does not fit this Image masker"
    ):
        explainer(np.zeros((2, 6, 6, 3)))
    nan_images = np.zeros((2, 8, 8, 3), dtype=np.float16)
    nan_images[1, 2, 3, 0] = np.nan
    with pytest.raises(ValueError, match=r"rows to explain contains 1 NaN.*\(1, 2, 3, 0\)"):
        explainer(nan_images)
    with pytest.raises(ValueError, match=r"the image contains 1 NaN"):
        masker(np.ones(masker.shape[1], dtype=bool), nan_images[1])
