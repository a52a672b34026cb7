"""Class weights for imbalanced data: `auto`, `balanced` or `none` (`TrainConfig.class_weight`)."""

from __future__ import annotations

import logging

import numpy as np

from edgecls.core.errors import EdgeclsError

logger = logging.getLogger(__name__)

CLASS_WEIGHTS = ("auto", "balanced", "none")
IMBALANCE_RATIO = 3.0  # `auto` weights the classes once the largest has this many times the smallest's images


def class_weights(labels: np.ndarray, classes: list[str], mode: str) -> dict[int, float] | None:
    """Per-class loss weights for the training labels, or None to train unweighted.

    `balanced` weighs each class by n_images / (n_classes * n_images_of_class), so every class adds
    the same total to the loss (scikit-learn's "balanced"); `auto` weighs only when the largest class
    has at least IMBALANCE_RATIO times the images of the smallest, and then by the square root of the
    balanced weights (scaled so an average image weighs 1), and says so; `none` never weighs.

    Why tempered: a rare class weighted 10 or 20 times makes each of its few images a large, noisy
    step, and a small from-scratch run then ends early on a noisy validation loss; the square root
    still lifts the rare class's recall without that.
    """
    check_class_weight(mode)
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    if mode == "none" or len(labels) == 0:
        return None
    largest, smallest = int(counts.max()), int(counts.min())
    ratio = largest / max(smallest, 1)
    if mode == "auto" and ratio < IMBALANCE_RATIO:
        return None
    weights = len(labels) / (len(classes) * np.maximum(counts, 1))
    if mode == "auto":
        weights = np.sqrt(weights)
        weights = weights * len(labels) / float((weights * counts).sum())
    described = ", ".join(f"{name} {weight:.2f}" for name, weight in zip(classes, weights, strict=True))
    if mode == "auto":
        logger.info(
            f"classes are imbalanced ({classes[int(counts.argmax())]} has {largest} training images, "
            f"{classes[int(counts.argmin())]} {smallest}: {ratio:.0f} to 1), so training weighs them by the "
            f"square root of the balanced weights ({described}); `class_weight` balanced weighs in full, none not at all"
        )
    else:
        logger.info(f"class weights: {described}")
    return {index: float(weight) for index, weight in enumerate(weights)}


def check_class_weight(mode: str) -> None:
    if mode not in CLASS_WEIGHTS:
        raise EdgeclsError(f"`class_weight` must be one of {', '.join(CLASS_WEIGHTS)}; received {mode!r}.")
