"""The parity gate: an exported model must give the Keras model's answers on real images."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class Gate:
    """What a precision must meet: every FP32 label agrees and probabilities within `max_abs_diff`;
    FP16 and INT8 must agree on at least `min_agreement` of the images."""

    min_agreement: float
    max_abs_diff: float | None = None


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

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        parts = [
            f"{self.precision}: top-1 agreement {self.agreement:.2%} on {self.num_images} images",
            f"max |Δp| {self.max_abs_diff:.2e}",
        ]
        if self.accuracy is not None:
            parts.append(f"accuracy {self.accuracy:.2%} (Keras {self.keras_accuracy:.2%})")
        if self.flips:
            parts.append(f"{len(self.flips)} label flip(s)")
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict} " + ", ".join(parts)


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
    # NaN or infinite outputs never pass, even where their argmax happens to agree.
    finite = bool(np.isfinite(onnx_probabilities).all())
    passed = (
        finite and agreement >= gate.min_agreement and (gate.max_abs_diff is None or max_abs_diff <= gate.max_abs_diff)
    )
    return ParityReport(
        precision=precision,
        num_images=len(paths),
        agreement=agreement,
        max_abs_diff=max_abs_diff,
        mean_abs_diff=float(difference.mean()) if difference.size else 0.0,
        accuracy=None if labels is None else float((onnx_top == labels).mean()),
        keras_accuracy=None if labels is None else float((keras_top == labels).mean()),
        flips=flips,
        passed=passed,
        gate=asdict(gate),
    )
