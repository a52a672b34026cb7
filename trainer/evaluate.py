"""Evaluation and plots: accuracy, per-class precision/recall/F1, the confusion matrix, curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecls.core.files import atomic_path
from edgecls.runtime.model import predict_in_batches


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, per-class precision/recall/F1/support and the confusion matrix (rows: true class)."""
    predicted = probabilities.argmax(axis=1)
    num_classes = len(classes)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = {}
    for index, name in enumerate(classes):
        true_positive = confusion[index, index]
        predicted_count = confusion[:, index].sum()
        support = confusion[index].sum()
        precision = true_positive / predicted_count if predicted_count else 0.0
        recall = true_positive / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": int(support),
        }
    return {
        "accuracy": round(float((predicted == labels).mean()) if len(labels) else 0.0, 4),
        "num_images": int(len(labels)),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
    }


def predict_images(model, images, batch_size: int) -> np.ndarray:
    """A Keras model's probabilities for `images` (an array or an ImageSource), in batches (no Keras
    progress lines)."""
    return predict_in_batches(batch_predictor(model), images, batch_size)


def batch_predictor(model):
    """`model`'s answers for one batch: `predict_on_batch`, or under a tf.distribute strategy (whose
    `predict_on_batch` gives each replica's copy of the answers) the model called on the batch."""
    import tensorflow as tf

    if tf.distribute.has_strategy():
        return lambda batch: model(batch, training=False)
    return model.predict_on_batch


def plot_curves(rows: list[dict], path: Path) -> None:
    """Loss and accuracy per epoch, training and validation, one colour per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    step = 0
    for stage in dict.fromkeys(row["stage"] for row in rows):
        stage_rows = [row for row in rows if row["stage"] == stage]
        x = np.arange(step + 1, step + len(stage_rows) + 1)
        step += len(stage_rows)
        for axis, metric in zip(axes, ("loss", "accuracy"), strict=True):
            axis.plot(x, [row.get(metric, np.nan) for row in stage_rows], label=f"{stage} train")
            axis.plot(x, [row.get(f"val_{metric}", np.nan) for row in stage_rows], "--", label=f"{stage} validation")
    for axis, metric in zip(axes, ("loss", "accuracy"), strict=True):
        axis.set_xlabel("epoch (both stages in sequence)")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    _save(figure, path)


def plot_confusion(confusion: list[list[int]], classes: list[str], path: Path) -> None:
    """The confusion matrix twice: counts, and each row divided by its class's images (recall on the
    diagonal), which shows a small class's errors that the counts hide."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.array(confusion)
    totals = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    size = max(4.0, 0.5 * len(classes) + 2)
    figure, axes = plt.subplots(1, 2, figsize=(2 * size + 2, size))
    for axis, values, title, text in (
        (axes[0], matrix, "images", lambda value: str(int(value))),
        (axes[1], normalised, "share of the true class (recall on the diagonal)", lambda value: f"{value:.2f}"),
    ):
        image = axis.imshow(values, cmap="Blues", vmin=0)
        axis.set_title(title, fontsize=10)
        axis.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
        axis.set_yticks(range(len(classes)), classes)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        threshold = values.max() / 2 if values.size else 0
        for (row, column), value in np.ndenumerate(values):
            color = "white" if value > threshold else "black"
            axis.text(column, row, text(value), ha="center", va="center", color=color)
        figure.colorbar(image, ax=axis)
    figure.tight_layout()
    _save(figure, path)


def _save(figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
