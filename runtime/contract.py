"""The model contract: what an edgecls ONNX file must carry, and the check that it does.

The exporter writes these keys into the file's `metadata_props`; the runtime reads them back and
refuses a file whose metadata is missing or disagrees with its own graph.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from edgecls.core.errors import ModelContractError
from edgecls.core.text import printable, shown

from .images import RESIZE_RULE

CONTRACT_VERSION = "1"
PRECISIONS = ("fp32", "fp16", "int8")
# The largest input side the contract accepts: 8x the largest ImageNet backbone input, far beyond any
# edge classifier, and small enough that a batch of decoded inputs fits in memory.
MAX_INPUT_SIDE = 4096
REQUIRED_KEYS = (
    "edgecls.contract",
    "classes",
    "input_size",
    "color_order",
    "resize",
    "backbone",
    "precision",
)
FIX_HINT = "Export the model with `edgecls export` so that it carries edgecls' metadata."


@dataclass(frozen=True)
class ModelInfo:
    """What the runtime knows about a model, read from its metadata and checked against its graph."""

    classes: tuple[str, ...]
    input_size: tuple[int, int]  # (height, width)
    backbone: str
    precision: str
    input_name: str
    output_name: str
    color_order: str = "RGB"
    resize: str = RESIZE_RULE
    val_accuracy: float | None = None
    edgecls_version: str = ""
    created: str = ""
    # A class that must be earned: reported only when its probability reaches this (traffic lights'
    # `off`, which a lit lamp must never be called); below it, the most probable other class is.
    min_class_scores: dict[str, float] = field(default_factory=dict)
    # What the graph's output holds: "probabilities" (softmax: the contract), or "logits", declared in
    # the metadata's `output` by a model made elsewhere; the runtime applies softmax to logits.
    output: str = "probabilities"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def decide(self, probabilities: np.ndarray) -> int:
        """The index of the class to report for one probability vector: the most probable class
        whose probability meets its `min_class_scores` entry (classes without one always do)."""
        allowed = probabilities >= self._minimums
        if allowed.all() or not allowed.any():
            return int(np.argmax(probabilities))
        return int(np.argmax(np.where(allowed, probabilities, -np.inf)))

    @cached_property
    def _minimums(self) -> np.ndarray:
        """`min_class_scores` as a vector in output order (0 where a class has none), made once."""
        return np.array([self.min_class_scores.get(name, 0.0) for name in self.classes], np.float32)


def build_metadata(
    classes: list[str] | tuple[str, ...],
    input_size: tuple[int, int],
    backbone: str,
    precision: str,
    val_accuracy: float | None,
    created: str,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The `metadata_props` an exported model carries (all values are strings)."""
    from edgecls import __version__

    metadata = {
        "edgecls.contract": CONTRACT_VERSION,
        "classes": json.dumps(list(classes)),
        "input_size": json.dumps([int(input_size[0]), int(input_size[1])]),
        "color_order": "RGB",
        "input_format": "uint8 NHWC",
        "resize": RESIZE_RULE,
        "backbone": backbone,
        "precision": precision,
        "val_accuracy": "" if val_accuracy is None else f"{val_accuracy:.6f}",
        "edgecls_version": __version__,
        "created": created,
    }
    metadata.update(extra or {})
    return metadata


def read_contract(
    metadata: dict[str, str],
    input_name: str,
    input_type: str,
    input_shape: list,
    output_name: str,
    output_shape: list,
    source: str = "model",
) -> ModelInfo:
    """Check a model's metadata against its graph and return what it promises.

    Args:
        metadata: the model's `metadata_props` (onnxruntime's `custom_metadata_map`).
        input_name, input_type, input_shape: the graph's single input, as onnxruntime reports it.
        output_name, output_shape: the graph's first output.
        source: the file name, used in messages.

    Raises:
        ModelContractError: naming the key or tensor that is wrong, what was found and the fix.
    """
    classes, size = _check_metadata(metadata, source)
    _check_graph(classes, size, input_name, input_type, input_shape, output_name, output_shape, source)
    output = metadata.get(OUTPUT_KEY) or "probabilities"
    if output not in OUTPUTS:
        raise ModelContractError(
            f"{source}: metadata '{OUTPUT_KEY}' is '{shown(output)}'; expected one of {', '.join(OUTPUTS)} "
            "(what the graph's output holds)."
        )
    accuracy = metadata.get("val_accuracy") or None
    min_scores = parse_min_class_scores(metadata.get(MIN_CLASS_SCORES_KEY, ""), classes, source)
    return ModelInfo(
        classes=tuple(classes),
        input_size=(size[0], size[1]),
        backbone=metadata["backbone"],
        precision=metadata["precision"],
        input_name=input_name,
        output_name=output_name,
        val_accuracy=float(accuracy) if accuracy else None,
        edgecls_version=metadata.get("edgecls_version", ""),
        created=metadata.get("created", ""),
        min_class_scores=min_scores,
        output=output,
    )


MIN_CLASS_SCORES_KEY = "min_class_scores"
OUTPUT_KEY = "output"
OUTPUTS = ("probabilities", "logits")
PROBABILITY_TOLERANCE = 0.05  # FP16 and INT8 outputs sum to 1 only roughly


def is_clean_name(name: str) -> bool:
    """Whether a class name may go into every output as it is: not empty, and no control character
    or invisible mark that reorders text (a bidirectional override), which could forge or disguise it."""
    return bool(name) and printable(name) == name


def parse_min_class_scores(text: str, classes: list[str], source: str) -> dict[str, float]:
    """The `min_class_scores` metadata value (a JSON object: class name -> score in (0, 1]), checked
    against the classes; empty text is no minimum."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not (
        isinstance(value, dict)
        and all(name in classes for name in value)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 < v <= 1 for v in value.values())
    ):
        raise ModelContractError(
            f"{source}: metadata '{MIN_CLASS_SCORES_KEY}' must be a JSON object of the model's class names to "
            f"scores between 0 and 1; found {shown(text)}. {FIX_HINT}"
        )
    return {name: float(v) for name, v in value.items()}


def _check_metadata(metadata: dict[str, str], source: str) -> tuple[list[str], list[int]]:
    """The metadata's own rules: every key present, the contract's version, classes, input size,
    colour order, resize rule and precision. Returns the classes and the input size."""
    missing = [key for key in REQUIRED_KEYS if key not in metadata]
    if missing:
        found = shown(", ".join(sorted(metadata)) or "none", 300)
        raise ModelContractError(
            f"{source}: metadata is missing {', '.join(missing)} (keys found: {found}). {FIX_HINT}"
        )
    if metadata["edgecls.contract"] != CONTRACT_VERSION:
        raise ModelContractError(
            f"{source}: metadata 'edgecls.contract' is '{shown(metadata['edgecls.contract'])}'; this edgecls "
            f"reads contract {CONTRACT_VERSION!r}. Re-export the model with this version of edgecls."
        )
    classes = _parse_json(metadata, "classes", source)
    if (
        not isinstance(classes, list)
        or not classes
        or not all(isinstance(name, str) and is_clean_name(name) for name in classes)
        or len(set(classes)) != len(classes)
        or len(classes) < 2
    ):
        raise ModelContractError(
            f"{source}: metadata 'classes' must be a JSON list of two or more distinct, non-empty, printable names; "
            f"found {shown(metadata['classes'])}. {FIX_HINT}"
        )
    size = _parse_json(metadata, "input_size", source)
    if not (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_INPUT_SIDE for v in size)
    ):
        raise ModelContractError(
            f"{source}: metadata 'input_size' must be [height, width], each 1-{MAX_INPUT_SIDE} pixels; "
            f"found {shown(metadata['input_size'])}."
        )
    for key, expected in (("color_order", "RGB"), ("resize", RESIZE_RULE)):
        if metadata[key] != expected:
            raise ModelContractError(
                f"{source}: metadata '{key}' is '{shown(metadata[key])}'; this runtime supports only {expected!r}."
            )
    if metadata["precision"] not in PRECISIONS:
        raise ModelContractError(
            f"{source}: metadata 'precision' is '{shown(metadata['precision'])}'; expected one of {', '.join(PRECISIONS)}."
        )
    return classes, size


def _check_graph(
    classes: list[str],
    size: list[int],
    input_name: str,
    input_type: str,
    input_shape: list,
    output_name: str,
    output_shape: list,
    source: str,
) -> None:
    """The graph against the metadata: a uint8 NHWC RGB input of the promised size, an output as
    wide as the class list."""
    if input_type != "tensor(uint8)":
        raise ModelContractError(f"{source}: input '{input_name}' is {input_type}; the contract needs tensor(uint8).")
    if len(input_shape) != 4 or input_shape[3] != 3:
        raise ModelContractError(
            f"{source}: input '{input_name}' has shape {input_shape}; the contract needs [batch, H, W, 3] (NHWC RGB)."
        )
    for axis, name in ((1, "height"), (2, "width")):
        if isinstance(input_shape[axis], int) and input_shape[axis] != size[axis - 1]:
            raise ModelContractError(
                f"{source}: metadata 'input_size' says {name} {size[axis - 1]} but input '{input_name}' "
                f"has {name} {input_shape[axis]}."
            )
    if len(output_shape) != 2:
        raise ModelContractError(
            f"{source}: output '{output_name}' has shape {shown(output_shape)}; the contract needs [batch, classes]: "
            "one score per class for each image."
        )
    width = output_shape[-1] if output_shape else None
    if isinstance(width, int) and width != len(classes):
        raise ModelContractError(
            f"{source}: metadata 'classes' lists {len(classes)} names but output '{output_name}' is "
            f"{width} wide. The metadata belongs to another model: re-export it with `edgecls export`."
        )


def check_probabilities(probabilities: np.ndarray, source: str, output_name: str) -> None:
    """Rows of a model's output that claim to be probabilities must be: each value in [0, 1], each
    row summing to 1 (within PROBABILITY_TOLERANCE); rows with NaN or infinities are left to the
    caller, which counts them.

    Raises:
        ModelContractError: logits or other scores, naming the fix.
    """
    rows = probabilities[np.isfinite(probabilities).all(axis=1)]
    if not len(rows):
        return
    sums = rows.sum(axis=1)
    if rows.min() >= -0.01 and rows.max() <= 1.01 and np.abs(sums - 1).max() <= PROBABILITY_TOLERANCE:
        return
    raise ModelContractError(
        f"{source}: output '{output_name}' is not a probability vector (values {rows.min():.3g} to {rows.max():.3g}, "
        f"rows summing to {sums.min():.3g}-{sums.max():.3g}); the contract's output is softmax probabilities. "
        f"A model whose last layer gives logits says so in its metadata: \"{OUTPUT_KEY}\": \"logits\" "
        "(edgecls then applies softmax); or re-export it with `edgecls export`."
    )


def _parse_json(metadata: dict[str, str], key: str, source: str):
    try:
        return json.loads(metadata[key])
    except json.JSONDecodeError:
        raise ModelContractError(
            f"{source}: metadata '{key}' is not valid JSON: {shown(metadata[key])}. {FIX_HINT}"
        ) from None
