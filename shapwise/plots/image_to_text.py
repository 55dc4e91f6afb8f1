"""Image-to-text plot: for a model that writes text about an image (captioning), each output
token with the image regions that raised (red) or lowered (blue) it (an HTML string)."""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from shapwise.explanation import Explanation
from shapwise.utils.general import ordinal_str


def _png(rgba: np.ndarray) -> str:
    """An RGBA array in [0, 1] as a data URI of a PNG."""
    from matplotlib.image import imsave

    buffer = io.BytesIO()
    imsave(buffer, np.clip(rgba, 0.0, 1.0), format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _grey(image: np.ndarray) -> np.ndarray:
    """The image as grey RGBA (so the red and blue of the values stand out on it)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3:
        image = image.mean(axis=2)
    scale = 255.0 if image.max() > 1.0 else 1.0
    grey = image / scale
    return np.stack([grey, grey, grey, np.full_like(grey, 0.5)], axis=-1)


def _token(token: str) -> str:
    """A token as text: word-piece and byte-level markers removed."""
    return html.escape(str(token).replace(" ##", "").replace("\u2581", "").replace("\u0120", ""))


def image_to_text(shap_values: Explanation, show: bool = True) -> str:
    """HTML with, for each output token, the image overlaid with that token's SHAP values.

    Args:
        shap_values: one image's explanation, values (H, W, C, tokens) with ``data`` the image
            (H, W, C) and ``output_names`` the tokens; or several images, (N, H, W, C, tokens).
        show: display the HTML in a notebook (when IPython is there).

    Returns:
        The HTML as a string (self-contained, no scripts).
    """
    if not isinstance(shap_values, Explanation):
        raise TypeError(
            "image_to_text takes an Explanation of an image with its output tokens; got "
            f"{type(shap_values).__name__}"
        )
    values = np.asarray(shap_values.values)
    if values.ndim == 5:
        images = shap_values.data
        markup = "".join(
            f"<br/><b>{ordinal_str(i + 1)} instance:</b><br/>"
            + _one_image(
                Explanation(
                    values[i],
                    data=None if images is None else np.asarray(images)[i],
                    output_names=shap_values.output_names,
                    axis_kinds=("feature", "feature", "feature", "output"),
                )
            )
            for i in range(len(values))
        )
    else:
        markup = _one_image(shap_values)
    if show:
        try:
            from IPython.display import HTML, display
        except ImportError:
            pass
        else:
            display(HTML(markup))
    return markup


def _one_image(explanation: Explanation) -> str:
    values = np.asarray(explanation.values, dtype=np.float64)
    if values.ndim != 4 or explanation.data is None:
        raise ValueError(
            "image_to_text shows one image's values of shape (height, width, channels, tokens) "
            f"with the image as data; got values of shape {values.shape}"
        )
    tokens = explanation.output_names
    if isinstance(tokens, str) or tokens is None or len(tokens) != values.shape[-1]:
        raise ValueError(
            f"image_to_text needs one output name (token) per output: {values.shape[-1]} outputs, "
            f"output_names {tokens!r}"
        )
    from shapwise.plots.colors import red_transparent_blue

    per_pixel = values.sum(axis=2)  # a token's value of a pixel: summed over its channels
    limit = max(float(np.nanpercentile(np.abs(per_pixel), 99.9)), 1e-12)
    background = _png(_grey(explanation.data))
    cells = []
    for k, token in enumerate(tokens):
        overlay = red_transparent_blue(np.clip(0.5 + 0.5 * per_pixel[..., k] / limit, 0, 1))
        cells.append(
            "<figure style='display:inline-block;margin:4px;text-align:center'>"
            f"<div style='position:relative'><img src='{background}' style='width:160px'/>"
            f"<img src='{_png(overlay)}' style='width:160px;position:absolute;left:0;top:0'/>"
            f"</div><figcaption class='token'>{_token(token)}</figcaption></figure>"
        )
    return "<div class='shapwise-image-to-text'>" + "".join(cells) + "</div>"
