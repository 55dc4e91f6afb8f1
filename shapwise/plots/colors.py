"""shap's colours and colormaps (``shap.plots.colors``), for code that draws with them.

Blue lowers the output and red raises it. The two end colours and the red-blue scale are
defined in CIE LCh (lightness, chroma, hue), where equal steps look equally different; the scale
dips in lightness in the middle so that patterns stay visible. Importing this module loads
matplotlib (the ``plots`` extra).
"""

from __future__ import annotations

import numpy as np

from shapwise._optional import require

_colors = require("matplotlib.colors", "plots")

# the D65 white point and the linear-sRGB -> XYZ matrix of the sRGB standard
_WHITE = np.array([0.95047, 1.0, 1.08883])
_XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)


def lch_to_rgb(lch: list[float] | np.ndarray) -> np.ndarray:
    """An sRGB colour (three floats in [0, 1]) from CIE LCh (hue in radians)."""
    lightness, chroma, hue = (float(v) for v in lch)
    a, b = chroma * np.cos(hue), chroma * np.sin(hue)
    fy = (lightness + 16.0) / 116.0
    f = np.array([fy + a / 500.0, fy, max(fy - b / 200.0, 0.0)])
    cube = np.where(f > 6.0 / 29.0, f**3, 3.0 * (6.0 / 29.0) ** 2 * (f - 4.0 / 29.0))
    linear = np.linalg.solve(_XYZ_FROM_RGB, cube * _WHITE)
    encoded = np.where(
        linear > 0.0031308, 1.055 * np.abs(linear) ** (1 / 2.4) - 0.055, 12.92 * linear
    )
    return np.clip(encoded, 0.0, 1.0)


_BLUE_LCH = [54.0, 70.0, 4.6588]
_RED_LCH = [54.0, 90.0, 0.35470565 + 2 * np.pi]
_MIDDLE_LIGHTNESS = 40.0
_STEPS = 100

blue_rgb = lch_to_rgb(_BLUE_LCH)
red_rgb = lch_to_rgb(_RED_LCH)
gray_rgb = lch_to_rgb([55.0, 0.0, 0.0])
white_rgb = np.array([1.0, 1.0, 1.0])
light_blue_rgb = np.array([127.0, 196, 252]) / 255
light_red_rgb = np.array([255.0, 127, 167]) / 255


def _segments(positions: np.ndarray, rgbs: list[np.ndarray], alpha: float) -> dict:
    """matplotlib's segment data for colours at positions (no jumps)."""
    channels = {"red": 0, "green": 1, "blue": 2}
    data = {
        name: [(p, rgb[k], rgb[k]) for p, rgb in zip(positions, rgbs, strict=True)]
        for name, k in channels.items()
    }
    data["alpha"] = [(p, alpha, alpha) for p in positions]
    return data


def _scale_colours() -> list[np.ndarray]:
    """Blue to red through LCh, darker in the middle."""
    half = _STEPS // 2
    lightness = [
        *np.linspace(_BLUE_LCH[0], _MIDDLE_LIGHTNESS, half),
        *np.linspace(_MIDDLE_LIGHTNESS, _RED_LCH[0], half),
    ]
    chroma = np.linspace(_BLUE_LCH[1], _RED_LCH[1], _STEPS)
    hue = np.linspace(_BLUE_LCH[2], _RED_LCH[2], _STEPS)
    return [lch_to_rgb(lch) for lch in zip(lightness, chroma, hue, strict=True)]


def _circle_colours() -> tuple[np.ndarray, list[np.ndarray]]:
    """Blue to red and back at constant lightness (for categories, which have no order)."""
    there = zip(
        np.linspace(_BLUE_LCH[1], _RED_LCH[1], _STEPS),
        np.linspace(_BLUE_LCH[2], _RED_LCH[2], _STEPS),
        strict=True,
    )
    back = zip(
        np.linspace(_RED_LCH[1], _BLUE_LCH[1], _STEPS),
        np.linspace(_RED_LCH[2] - 2 * np.pi, _BLUE_LCH[2], _STEPS),
        strict=True,
    )
    rgbs = [lch_to_rgb([_BLUE_LCH[0], c, h]) for c, h in [*there, *back]]
    positions = np.concatenate([np.linspace(0, 0.5, _STEPS), np.linspace(0.5, 1, _STEPS)])
    return positions, rgbs


_positions = np.linspace(0, 1, _STEPS)
_scale = _scale_colours()

# values off the scale (NaN, or a category without order) are grey
red_blue = _colors.LinearSegmentedColormap(
    "red_blue", _segments(_positions, _scale, 1.0)
).with_extremes(bad=(*gray_rgb, 1.0), over=(*gray_rgb, 1.0), under=(*gray_rgb, 1.0))
red_blue_no_bounds = _colors.LinearSegmentedColormap(
    "red_blue_no_bounds", _segments(_positions, _scale, 1.0)
)
red_blue_transparent = _colors.LinearSegmentedColormap(
    "red_blue_transparent", _segments(_positions, _scale, 0.5)
)
red_blue_circle = _colors.LinearSegmentedColormap(
    "red_blue_circle", _segments(*_circle_colours(), 1.0)
)

_OLD_BLUE = np.array([30.0, 136.0, 229.0]) / 255
_OLD_RED = np.array([255.0, 13.0, 87.0]) / 255
_fade_in = np.linspace(0, 1, _STEPS)

red_transparent_blue = _colors.LinearSegmentedColormap.from_list(
    "red_transparent_blue",
    [(*_OLD_BLUE, a) for a in _fade_in[::-1]] + [(*_OLD_RED, a) for a in _fade_in],
)
transparent_blue = _colors.LinearSegmentedColormap.from_list(
    "transparent_blue", [(*_OLD_BLUE, a) for a in _fade_in]
)
transparent_red = _colors.LinearSegmentedColormap.from_list(
    "transparent_red", [(*_OLD_RED, a) for a in _fade_in]
)
red_white_blue = _colors.LinearSegmentedColormap.from_list(
    "red_white_blue",
    [blue_rgb * a + (1 - a) * white_rgb for a in _fade_in[::-1]]
    + [red_rgb * a + (1 - a) * white_rgb for a in _fade_in],
)

__all__ = [
    "blue_rgb",
    "gray_rgb",
    "light_blue_rgb",
    "light_red_rgb",
    "red_blue",
    "red_blue_circle",
    "red_blue_no_bounds",
    "red_blue_transparent",
    "red_rgb",
    "red_transparent_blue",
    "red_white_blue",
    "transparent_blue",
    "transparent_red",
]
