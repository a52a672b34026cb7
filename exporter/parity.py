"""The parity gate: an exported model must give the Keras model's answers on real images, overall
and for every class."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class Gate:
    """What a precision must meet: every FP32 label agrees and probabilities within `max_abs_diff`;
    FP16 and INT8 must agree on at least `min_agreement` of the images; and no class may lose more
    than `max_recall_drop` points of recall against the Keras model (checked where labels are known)."""

    min_agreement: float
    max_abs_diff: float | None = None
    max_recall_drop: float | None = None  # percentage points


@dataclass
class ParityReport:
    precision: str
    num_images: int
    agreement: float
    max_abs_diff: float
    mean_abs_diff: float
    accuracy: float | None
    keras_accuracy: float | None
    flips: list[dict] = field(default_factory=list)  # {"path", "keras", "onnx"}
    passed: bool = False
    gate: dict = field(default_factory=dict)
    per_class: dict[str, dict] = field(default_factory=dict)  # class -> images, keras_recall, recall, drop
    failures: list[str] = field(default_factory=list)  # what failed, in words
    recipe: str | None = None  # INT8: the recipe this report is of
    latency_ms: float | None = None  # one image at batch 1 on this CPU, where measured
    attempts: list[dict] = field(default_factory=list)  # INT8: every recipe tried, in order

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def worst_drop(self) -> float:
        return max((figures["drop"] for figures in self.per_class.values()), default=0.0)

    def summary(self) -> str:
        parts = [
            f"{self.precision}{f' ({self.recipe})' if self.recipe else ''}: top-1 agreement {self.agreement:.2%} "
            f"on {self.num_images} images",
            f"max |Δp| {self.max_abs_diff:.2e}",
        ]
        if self.accuracy is not None:
            parts.append(f"accuracy {self.accuracy:.2%} (Keras {self.keras_accuracy:.2%})")
        if self.flips:
            parts.append(f"{len(self.flips)} label flip(s)")
        verdict = "PASS" if self.passed else "FAIL"
        failures = f"; {'; '.join(self.failures)}" if self.failures else ""
        return f"{verdict} " + ", ".join(parts) + failures

    def recall_line(self) -> str:
        """Per-class recall against Keras's, e.g. `recall per class: red 96.0% (Keras 97.0%), ...`."""
        return "recall per class: " + ", ".join(
            f"{name} {figures['recall']:.1%} (Keras {figures['keras_recall']:.1%})" for name, figures in self.per_class.items()
        )


def compare(
    precision: str,
    keras_probabilities: np.ndarray,
    onnx_probabilities: np.ndarray,
    paths: list[str],
    classes: list[str],
    gate: Gate,
    labels: np.ndarray | None = None,
) -> ParityReport:
    """Compare two [N, classes] probability arrays and judge them against `gate`."""
    keras_top = keras_probabilities.argmax(axis=1)
    onnx_top = onnx_probabilities.argmax(axis=1)
    difference = np.abs(keras_probabilities.astype(np.float64) - onnx_probabilities.astype(np.float64))
    agreement = float((keras_top == onnx_top).mean()) if len(paths) else 0.0
    flips = [
        {"path": paths[index], "keras": classes[keras_top[index]], "onnx": classes[onnx_top[index]]}
        for index in np.flatnonzero(keras_top != onnx_top)
    ]
    max_abs_diff = float(difference.max()) if difference.size else 0.0
    per_class = {} if labels is None else per_class_recall(labels, keras_top, onnx_top, classes)
    failures = _failures(gate, agreement, max_abs_diff, per_class, bool(np.isfinite(onnx_probabilities).all()))
    return ParityReport(
        precision=precision,
        num_images=len(paths),
        agreement=agreement,
        max_abs_diff=max_abs_diff,
        mean_abs_diff=float(difference.mean()) if difference.size else 0.0,
        accuracy=None if labels is None else float((onnx_top == labels).mean()),
        keras_accuracy=None if labels is None else float((keras_top == labels).mean()),
        flips=flips,
        passed=not failures,
        gate=asdict(gate),
        per_class=per_class,
        failures=failures,
    )


def per_class_recall(labels: np.ndarray, keras_top: np.ndarray, onnx_top: np.ndarray, classes: list[str]) -> dict:
    """Per class with images: how many, the Keras model's recall, this model's, and the points lost."""
    figures = {}
    for index, name in enumerate(classes):
        mask = labels == index
        if not mask.any():
            continue
        keras_recall = float((keras_top[mask] == index).mean())
        recall = float((onnx_top[mask] == index).mean())
        drop = round(100.0 * (keras_recall - recall), 4)
        figures[name] = {"images": int(mask.sum()), "keras_recall": keras_recall, "recall": recall, "drop": drop}
    return figures


def _failures(gate: Gate, agreement: float, max_abs_diff: float, per_class: dict, finite: bool) -> list[str]:
    failures = []
    if not finite:  # NaN or infinite outputs never pass, even where their argmax happens to agree
        failures.append("its outputs are not all finite")
    if agreement < gate.min_agreement:
        failures.append(f"agreement {agreement:.2%} is below {gate.min_agreement:.2%}")
    if gate.max_abs_diff is not None and max_abs_diff > gate.max_abs_diff:
        failures.append(f"max |Δp| {max_abs_diff:.2e} is above {gate.max_abs_diff:.0e}")
    if gate.max_recall_drop is not None:
        for name, figures in per_class.items():
            if figures["drop"] > gate.max_recall_drop:
                failures.append(
                    f"class {name} lost {figures['drop']:.1f} points of recall ({figures['keras_recall']:.1%} with Keras, "
                    f"{figures['recall']:.1%} here, {figures['images']} images; the limit is {gate.max_recall_drop:g})"
                )
    return failures


def attempts_table(reports: list[ParityReport]) -> str:
    """The INT8 recipes tried, one row each: agreement, max |Δp|, per-class recall, latency, verdict."""
    classes = list(reports[0].per_class) if reports else []
    header = ["recipe", "agreement", "max |Δp|", *(f"{name} recall" for name in classes), "ms/image", "gate"]
    rows = [header]
    for report in reports:
        latency = f"{report.latency_ms:.2f}" if report.latency_ms is not None else "-"
        recalls = [f"{report.per_class[name]['recall']:.1%}" for name in classes]
        row = [report.recipe or "", f"{report.agreement:.2%}", f"{report.max_abs_diff:.3f}", *recalls, latency]
        rows.append([*row, "PASS" if report.passed else "fail"])
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows)
