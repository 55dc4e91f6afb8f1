"""``shapwise demo``: train small real models on sklearn's bundled data, explain them, check that
the values add up to the outputs, and write one HTML report.

Four models, each part skipped with its reason when its framework is not installed:
- a gradient-boosted regressor on the diabetes table, exact Tree SHAP values over a background
  (``shapwise.Explainer`` picks ``TreeExplainer``);
- TF-IDF + logistic regression on short film reviews (a made-up corpus: nothing is downloaded),
  Owen values over each review's tokens (``maskers.Text``);
- a GELU network in torch on the 8x8 digits, DeepSHAP (``shapwise.DeepExplainer``);
- a Keras CNN under the ``mixed_float16`` policy on the digits, Owen values over image regions
  (``explainers.Partition`` with ``maskers.Image``), its float16 outputs explained in float32.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from shapwise.explanation import Explanation

DIGITS_SHOWN = 4  # images explained: the first example of the digits 0..3, for outputs 0..3


def tabular_part() -> Explanation:
    """Gradient boosting on diabetes (10 features): exact (Tree SHAP) values for 60 patients."""
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor

    import shapwise

    data = load_diabetes()
    X, y = data.data, data.target
    model = GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=0).fit(X, y)
    explainer = shapwise.Explainer(model, X[::8], feature_names=list(data.feature_names))
    return explainer(X[:60], silent=True)


REVIEW_WORDS = {
    1: ["great", "wonderful", "moving", "superb"],
    0: ["awful", "dull", "boring", "poor"],
}
REVIEW_OPENINGS = ["the film was", "the acting felt", "this story is", "the music sounded"]


def review_corpus(n: int = 300, seed: int = 0) -> tuple[list[str], list[int]]:
    """Short film reviews, each with one positive (label 1) or negative (label 0) word."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        word = REVIEW_WORDS[label][rng.integers(4)]
        texts.append(f"{REVIEW_OPENINGS[rng.integers(4)]} {word}. We left the cinema, talking.")
        labels.append(label)
    return texts, labels


def text_part() -> Explanation:
    """TF-IDF + logistic regression on the reviews: Owen values over the tokens of three new ones."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    import shapwise

    texts, labels = review_corpus()
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
    explainer = shapwise.Explainer(
        model.predict_proba, shapwise.maskers.Text(), output_names=["negative", "positive"]
    )
    reviews = [
        "The acting felt superb, but the story is dull.",
        "A moving film. We left the cinema talking about it.",
        "Boring music.",
    ]
    return explainer(reviews, silent=True)[:, :, "positive"]


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Digits scaled to [0, 1] as (N, 8, 8, 1) images, labels, and the rows explained."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    shown = np.array([np.flatnonzero(digits.target == d)[0] for d in range(DIGITS_SHOWN)])
    return images, digits.target, shown


def _as_images(explanation: Explanation, images: np.ndarray) -> Explanation:
    """Flat per-pixel values (N, 64, 10) as images (N, 8, 8, 1, 4) for the first four digits."""
    return Explanation(
        explanation.values.reshape(*images.shape, -1)[..., :DIGITS_SHOWN],
        base_values=np.asarray(explanation.base_values)[:, :DIGITS_SHOWN],
        data=images,
        output_names=[f"digit {d}" for d in range(DIGITS_SHOWN)],
        output_values=np.asarray(explanation.output_values)[:, :DIGITS_SHOWN],
        model_dtype=explanation.model_dtype,
        algorithm=explanation.algorithm,
    )


def torch_part() -> Explanation:
    """A 64-32-10 GELU network on the digits, explained by DeepSHAP against 30 background images."""
    from shapwise._optional import require

    torch = require("torch", "torch")
    import shapwise

    images, labels, shown = _digits()
    X = torch.from_numpy(images.reshape(len(images), -1))
    y = torch.from_numpy(labels)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.GELU(), torch.nn.Linear(32, 10))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(100):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(X), y).backward()
        optimiser.step()
    model.eval()
    explainer = shapwise.DeepExplainer(model, X[100:130], silent=True)
    explanation = explainer(X[shown])
    return _as_images(explanation, images[shown])


def keras_part() -> Explanation:
    """A small CNN trained under mixed_float16 (float16 outputs), explained by Owen values over
    image regions with a blurring Image masker."""
    from shapwise._optional import require

    keras = require("keras", "tf")
    from shapwise import explainers, maskers

    images, labels, shown = _digits()
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                keras.layers.Conv2D(8, 3, padding="same", activation="gelu"),
                keras.layers.Flatten(),
                keras.layers.Dense(10),
            ]
        )
    finally:
        keras.mixed_precision.set_global_policy(previous)
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(images, labels, epochs=4, batch_size=64, verbose=0)
    explainer = explainers.Partition(model, maskers.Image("blur(3,3)", (8, 8, 1)))
    explanation = explainer(
        images[shown], max_evals=300, outputs=list(range(DIGITS_SHOWN)), silent=True
    )
    explanation.output_names = [f"digit {d}" for d in range(DIGITS_SHOWN)]
    return explanation


PARTS: dict[str, Callable[[], Explanation]] = {
    "Diabetes, gradient boosting (Tree SHAP)": tabular_part,
    "Film reviews, TF-IDF + logistic regression (Partition, Text masker)": text_part,
    "Digits, torch GELU network (DeepSHAP)": torch_part,
    "Digits, Keras CNN in mixed_float16 (Partition, Image masker)": keras_part,
}


def run_demo(out: Path, parts: dict[str, Callable[[], Explanation]] | None = None) -> int:
    """Run every part, print an additivity summary, write ``out/report.html``.

    Returns:
        0 when every part that ran is additive within its dtype's tolerance, else 1.
    """
    from shapwise.report import additivity, report

    explained: dict[str, Explanation] = {}
    failed = False
    for name, part in (parts or PARTS).items():
        start = time.perf_counter()
        try:
            explanation = part()
        except ImportError as error:
            print(f"skipped  {name}: {error}")
            continue
        check = additivity(explanation)
        failed |= not check.ok
        explained[name] = explanation
        print(
            f"{'ok' if check.ok else 'FAILED':8} {name}: {check.model_dtype} model, "
            f"values {explanation.shape}, max |sum + base - output| = "
            f"{check.max_error:.2g} (tolerance {check.tolerance:.2g}), "
            f"{time.perf_counter() - start:.1f} s"
        )
    if not explained:
        print("nothing could be explained; install shapwise[all]")
        return 1
    path = report(explained, Path(out) / "report.html", title="shapwise demo")
    print(f"report: {path}")
    return 1 if failed else 0
