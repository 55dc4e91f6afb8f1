"""Image masker: hidden pixels are blurred, inpainted or set to a constant; regions split recursively."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np

from shapwise._optional import require
from shapwise.maskers._base import Masker
from shapwise.numeric import check_finite, to_numpy

_BLUR = re.compile(r"^blur\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
_INPAINT = {"inpaint_telea": "INPAINT_TELEA", "inpaint_ns": "INPAINT_NS"}
INPAINT_RADIUS = 3


@lru_cache(maxsize=8)
def image_linkage(shape: tuple[int, ...], channel_axis: int | None) -> np.ndarray:
    """A linkage matrix that splits the image in halves along its longest spatial side, recursively.

    Channels are split last, once a box is one pixel. Leaves are the flat indices of ``shape``;
    column 2 (the distance) is the box size, so it grows towards the root as scipy expects.
    """
    spatial = [axis for axis in range(len(shape)) if axis != channel_axis]
    n = int(np.prod(shape))
    rows: list[tuple[int, int, float, float]] = []
    strides = np.cumprod((1, *shape[::-1]))[::-1][1:]

    def leaf(box: list[tuple[int, int]]) -> int:
        return int(sum(lo * stride for (lo, _), stride in zip(box, strides, strict=True)))

    # Depth-first, children before parents, so each internal node gets the next id when made.
    stack: list[tuple[list[tuple[int, int]], bool]] = [([(0, s) for s in shape], False)]
    finished: list[int] = []
    while stack:
        box, expanded = stack.pop()
        widths = [hi - lo for lo, hi in box]
        if all(w == 1 for w in widths):
            finished.append(leaf(box))
            continue
        if expanded:
            right, left = finished.pop(), finished.pop()
            size = float(np.prod(widths))
            rows.append((left, right, size, size))
            finished.append(n + len(rows) - 1)
            continue
        candidates = [a for a in spatial if widths[a] > 1] or [channel_axis]
        axis = max(candidates, key=lambda a: widths[a])
        lo, hi = box[axis]
        middle = lo + (hi - lo) // 2
        first, second = list(box), list(box)
        first[axis], second[axis] = (lo, middle), (middle, hi)
        stack.append((box, True))
        stack.append((second, False))
        stack.append((first, False))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def _channel_axis(shape: tuple[int, ...], channels_last: bool | None) -> int | None:
    if len(shape) == 2:
        return None
    if channels_last is None:
        channels_last = shape[-1] <= 4 or shape[0] > 4
    return len(shape) - 1 if channels_last else 0


class Image(Masker):
    """Hides image regions by blurring, inpainting, or a constant value.

    Args:
        mask_value: ``"blur(kx,ky)"`` (box blur of the image), ``"inpaint_telea"`` or
            ``"inpaint_ns"`` (opencv inpainting from the visible pixels), a number, or an array
            that broadcasts to ``shape``.
        shape: the shape of one image, (H, W, C), (C, H, W) or (H, W); optional when
            ``mask_value`` is a full image-shaped array.
        partition_scheme: 0, the only scheme: halves along the longest side, recursively.
        channels_last: the layout; None guesses from the shape (a last axis of at most 4 is
            channels, else a first axis of at most 4; HWC when unsure).

    Every feature is one value of the image (a pixel in one channel); the hierarchy in
    ``clustering`` keeps the channels of a pixel together until the last splits. Images are masked
    in float32 (float64 images stay float64); visible pixels are copied unchanged.
    """

    def __init__(
        self,
        mask_value: Any,
        shape: tuple[int, ...] | None = None,
        partition_scheme: int = 0,
        channels_last: bool | None = None,
    ) -> None:
        if partition_scheme != 0:
            raise ValueError(
                f"partition_scheme must be 0 (halves of the longest side); got {partition_scheme}"
            )
        self.blur_kernel: tuple[int, int] | None = None
        self.inpaint_method: str | None = None
        self.constant: np.ndarray | None = None
        if isinstance(mask_value, str):
            self._parse_method(mask_value.strip())
        else:
            self.constant = to_numpy(mask_value, name="mask_value")
            check_finite(self.constant, "mask_value")
            if shape is None and self.constant.ndim >= 2:
                shape = self.constant.shape
        if shape is None:
            raise ValueError(
                "the Image masker needs the shape of one image, e.g. Image('blur(8,8)', shape=(64, 64, 3))"
            )
        shape = tuple(int(s) for s in shape)
        if len(shape) not in (2, 3) or min(shape) < 1:
            raise ValueError(f"an image shape is (H, W, C), (C, H, W) or (H, W); got {shape}")
        self.input_shape = shape
        self.channel_axis = _channel_axis(shape, channels_last)
        if self.constant is not None:
            try:
                self.constant = np.broadcast_to(self.constant, shape)
            except ValueError as error:
                raise ValueError(
                    f"mask_value of shape {self.constant.shape} does not broadcast to the image shape {shape}"
                ) from error
        self.shape = (1, int(np.prod(shape)))
        self.clustering = image_linkage(shape, self.channel_axis)
        self.empty_is_constant = self.constant is not None
        self._blurred_key: bytes | None = None
        self._blurred: np.ndarray | None = None

    def _parse_method(self, mask_value: str) -> None:
        blur = _BLUR.match(mask_value)
        if blur:
            self.blur_kernel = (int(blur.group(1)), int(blur.group(2)))
            if min(self.blur_kernel) < 1:
                raise ValueError(f"blur kernel sizes must be at least 1; got {mask_value!r}")
        elif mask_value in _INPAINT:
            self.inpaint_method = _INPAINT[mask_value]
        else:
            raise ValueError(
                f"unknown mask_value {mask_value!r}; use 'blur(kx,ky)' (e.g. 'blur(10,10)'), "
                "'inpaint_telea', 'inpaint_ns', a number or an array"
            )
        require("cv2", "image")

    # --------------------------------------------------------------- masker protocol
    def check_row(self, x: np.ndarray) -> None:
        if x.shape != self.input_shape:
            raise ValueError(
                f"an image of shape {x.shape} does not fit this Image masker, built for shape "
                f"{self.input_shape}; pass a batch of images (N, {', '.join(map(str, self.input_shape))}) "
                "or build the masker with the images' shape"
            )
        check_finite(x, "the image")

    def masked_batch(self, masks: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Masked images for K masks (K, n_features): shape (K, 1, *image shape)."""
        x = np.asarray(x)
        if x.dtype.kind != "f" or x.dtype.itemsize < 4:
            x = to_numpy(x, name="the image").astype(np.float32)
        if x.size != self.shape[1]:
            self.check_row(x)
        x = x.reshape(self.input_shape)
        visible = np.asarray(masks, dtype=bool).reshape(len(masks), *self.input_shape)
        hidden_values = self._hidden_values(visible, x)
        return np.where(visible, x, hidden_values)[:, None]

    def __call__(self, mask: Any, x: Any) -> tuple[np.ndarray, ...]:
        x = to_numpy(x, name="the image")
        if x.size != self.shape[1]:
            self.check_row(x)
        check_finite(x, "the image")
        return super().__call__(mask, x.reshape(self.input_shape))

    # --------------------------------------------------------------- hidden values
    def _hidden_values(self, visible: np.ndarray, x: np.ndarray) -> np.ndarray:
        """What hidden pixels become: (1 or K, *shape), in x's dtype."""
        if self.constant is not None:
            return self.constant.astype(x.dtype)[None]
        if self.blur_kernel is not None:
            return self._blur(x)[None]
        return np.stack([self._inpaint(x, mask) for mask in visible])

    def _blur(self, x: np.ndarray) -> np.ndarray:
        key = x.tobytes()
        if key != self._blurred_key:  # keyed on the content: a new image is always blurred anew
            cv2 = require("cv2", "image")
            image = self._to_hwc(x.astype(np.float32))
            blurred = cv2.blur(image, self.blur_kernel).reshape(image.shape)
            self._blurred = self._from_hwc(blurred).astype(x.dtype)
            self._blurred_key = key
        return self._blurred

    def _inpaint(self, x: np.ndarray, visible: np.ndarray) -> np.ndarray:
        """Inpaint the pixels with any hidden channel from the fully visible ones."""
        cv2 = require("cv2", "image")
        image = self._to_hwc(x.astype(np.float32))
        hidden = ~self._to_hwc(visible).all(axis=2)
        if not hidden.any():
            return x
        if hidden.all():  # nothing to inpaint from: the mean colour
            return self._from_hwc(np.broadcast_to(image.mean(axis=(0, 1)), image.shape)).astype(
                x.dtype
            )
        flags = getattr(cv2, self.inpaint_method)
        region = hidden.astype(np.uint8)
        channels = image.shape[2]
        if channels in (1, 3) and _is_uint8_valued(image):
            # opencv inpaints 3-channel images only as uint8; exact here, the values are whole bytes
            filled = cv2.inpaint(image.astype(np.uint8), region, INPAINT_RADIUS, flags)
            filled = filled.reshape(image.shape).astype(np.float32)
        else:
            filled = np.stack(
                [_inpaint_channel(image[:, :, c], region, flags) for c in range(channels)], axis=2
            )
        return self._from_hwc(filled).astype(x.dtype)

    def _to_hwc(self, image: np.ndarray) -> np.ndarray:
        if self.channel_axis is None:
            return image[:, :, None]
        return np.moveaxis(image, self.channel_axis, -1)

    def _from_hwc(self, image: np.ndarray) -> np.ndarray:
        if self.channel_axis is None:
            return image[:, :, 0]
        return np.moveaxis(image, -1, self.channel_axis)


def _is_uint8_valued(image: np.ndarray) -> bool:
    return bool(image.min() >= 0 and image.max() <= 255 and np.all(image == np.round(image)))


def _inpaint_channel(channel: np.ndarray, region: np.ndarray, flags: int) -> np.ndarray:
    """Inpaint one float channel through uint16 over its own range (opencv's float32 Telea is not
    reliable); only the hidden pixels use the result, at 1/65535 of the channel's range."""
    cv2 = require("cv2", "image")
    low, high = float(channel.min()), float(channel.max())
    if high == low:
        return channel.copy()
    scale = (high - low) / 65535.0
    levels = np.round((channel - low) / scale).astype(np.uint16)
    filled = cv2.inpaint(levels, region, INPAINT_RADIUS, flags)
    return filled.astype(np.float32) * np.float32(scale) + np.float32(low)
