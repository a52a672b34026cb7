"""INT8 recipes and the search among them.

A recipe is a calibration method and the nodes kept in float: `minmax`, `percentile`, `entropy`,
each optionally `+first` (the first convolution in float), `+head` (everything after the last
convolution: pooling, the dense head, softmax) and `+sensitiveN` (the N nodes whose quantization adds
the most noise, ranked by onnxruntime's `qdq_loss_debug`). The export tries them cheapest first
(`search_order`) until one passes its gate; `--int8-recipe` pins one.

Calibration runs once per method (onnxruntime's calibration cache); the recipes of one method reuse
its ranges, so a search costs a quantization and a check per attempt, not a calibration.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecls.core.errors import EdgeclsError
from edgecls.core.progress import track

from .parity import ParityReport, attempts_table

logger = logging.getLogger(__name__)

METHODS = ("minmax", "percentile", "entropy")
SENSITIVE_STEPS = (4, 8, 16)  # how many of the noisiest nodes the search keeps in float, in turn
# Calibration images the sensitivity ranking runs both models on: it keeps every intermediate tensor
# of both (VGG16 at 224 px: about 60 MB per image and model), so a few.
DEBUG_IMAGES = 8
ACTIVATIONS = ("Relu", "Clip", "LeakyRelu", "HardSigmoid", "Sigmoid")  # fused with the op before them
RECIPE_PATTERN = re.compile(r"^(minmax|percentile|entropy)((?:\+first)?)((?:\+head)?)((?:\+sensitive[1-9][0-9]*)?)$")


@dataclass(frozen=True)
class Recipe:
    method: str = "minmax"
    float_first: bool = False
    float_head: bool = False
    float_sensitive: int = 0

    @property
    def name(self) -> str:
        parts = [self.method]
        parts += ["first"] if self.float_first else []
        parts += ["head"] if self.float_head else []
        parts += [f"sensitive{self.float_sensitive}"] if self.float_sensitive else []
        return "+".join(parts)

    @classmethod
    def parse(cls, text: str) -> Recipe:
        """Raises EdgeclsError for text that is not a recipe, with examples."""
        match = RECIPE_PATTERN.match(text.strip().lower())
        if match is None:
            raise EdgeclsError(
                f"`int8_recipe` {text!r} is not a recipe: a calibration method ({', '.join(METHODS)}), then "
                "optionally +first, +head and +sensitiveN, in that order; e.g. entropy or minmax+first+head+sensitive8."
            )
        method, first, head, sensitive = match.groups()
        return cls(method, bool(first), bool(head), int(sensitive.removeprefix("+sensitive") or 0))


def search_order(best_method: str | None = None) -> list[Recipe]:
    """The calibration methods first; then, with the method that came closest, more and more in float."""
    if best_method is None:
        return [Recipe(method) for method in METHODS]
    return [
        Recipe(best_method, float_first=True),
        Recipe(best_method, float_first=True, float_head=True),
        *(Recipe(best_method, True, True, count) for count in SENSITIVE_STEPS),
    ]


def search_int8(
    quantizer: Int8Quantizer, recipes: list[Recipe], check: Callable[..., ParityReport], searching: bool = True
) -> tuple[object, ParityReport]:
    """Quantize by each recipe in turn and `check(proto, recipe)` it, until one passes. `searching`:
    when the calibration methods all fail, go on with the one that came closest and more nodes in
    float (`search_order`); a recipe that would keep the same nodes in float as one tried is skipped.

    Returns the last model tried and its report (the one that passed, if any), whose `attempts` list
    every recipe tried; the table of them is logged.
    """
    queue, tried, seen = list(recipes), [], set()
    escalated = not searching
    proto = None
    while queue:
        recipe = queue.pop(0)
        key = (recipe.method, frozenset(quantizer.excluded_nodes(recipe)))
        if key in seen:
            continue
        seen.add(key)
        proto = quantizer.quantize(recipe)
        report = check(proto, recipe)
        report.recipe = recipe.name
        tried.append(report)
        logger.info(f"INT8 recipe {recipe.name}: {'PASS' if report.passed else 'FAIL'}, agreement {report.agreement:.2%}")
        if report.passed:
            break
        if not queue and not escalated:
            escalated = True
            queue = search_order(_closest(tried).split("+")[0])
    report = tried[-1]
    report.attempts = [_attempt(attempt) for attempt in tried]
    logger.info(f"INT8 recipes tried ({len(tried)}):\n{attempts_table(tried)}")
    if not report.passed and len(tried) > 1:
        last = f"the last, {report.recipe}: {'; '.join(report.failures)}"
        report.failures = [f"none of the {len(tried)} INT8 recipes tried passed (the table above lists each; {last})"]
    return proto, report


def _closest(reports: list[ParityReport]) -> str:
    """The recipe that came closest to passing: most agreement, then least recall lost, then least |Δp|."""
    best = max(reports, key=lambda report: (report.agreement, -report.worst_drop, -report.max_abs_diff))
    return best.recipe or "minmax"


def _attempt(report: ParityReport) -> dict:
    return {
        "recipe": report.recipe,
        "passed": report.passed,
        "agreement": report.agreement,
        "max_abs_diff": report.max_abs_diff,
        "recall": {name: figures["recall"] for name, figures in report.per_class.items()},
        "latency_ms": report.latency_ms,
        "failures": report.failures,
    }


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over batches of uint8 images, with progress."""

    def __init__(self, input_name: str, batches: Iterator[np.ndarray], total: int, label: str) -> None:
        self._input_name, self._batches = input_name, batches
        self._progress = track(total, label)

    def get_next(self):
        batch = next(self._batches, None)
        if batch is None:
            self._progress.close()
            return None
        self._progress.update(len(batch))
        return {self._input_name: batch}

    def rewind(self) -> None:  # one pass is all calibration needs
        pass


class Int8Quantizer:
    """Static QDQ quantization of one FP32 graph by any recipe: int8 weights per channel, uint8
    activations, ranges calibrated on `images` (an ImageSource or uint8 array, read a batch at a time).
    Use as a context manager: it works in a temporary folder."""

    def __init__(self, proto, images, input_name: str, batch_size: int = 8) -> None:
        self.proto, self.images, self.input_name, self.batch_size = proto, images, input_name, batch_size
        self._folder = tempfile.TemporaryDirectory(prefix="edgecls-int8-")
        self.root = Path(self._folder.name)
        self._rankings: dict[str, list[tuple[str, ...]]] = {}
        self.prepared = self._prepare()

    def __enter__(self) -> Int8Quantizer:
        return self

    def __exit__(self, *exc) -> None:
        self._folder.cleanup()

    def _prepare(self) -> Path:
        """onnxruntime's pre-processing (graph optimisation, shape inference) once, for every recipe."""
        import onnx
        from onnxruntime.quantization.shape_inference import quant_pre_process

        source, prepared = self.root / "fp32.onnx", self.root / "prepared.onnx"
        onnx.save(self.proto, source)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        return prepared

    def _reader(self, count: int | None = None, label: str = "calibrating INT8"):
        from onnxruntime.quantization import CalibrationDataReader

        class Reader(_Reader, CalibrationDataReader):
            pass

        total = len(self.images) if count is None else min(count, len(self.images))
        starts = range(0, total, self.batch_size)
        batches = (np.asarray(self.images[np.arange(i, min(i + self.batch_size, total))]) for i in starts)
        return Reader(self.input_name, batches, total, label)

    def quantize(self, recipe: Recipe):
        """The QDQ model of `recipe` (an onnx.ModelProto)."""
        import onnx
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

        method = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile, "entropy": CalibrationMethod.Entropy}
        cache = self.root / f"{recipe.method}.ranges.json"
        output = self.root / f"{recipe.name}.onnx"
        excluded = self.excluded_nodes(recipe)
        # onnxruntime's histogram calibrators print their progress: kept off the command's stdout
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            quantize_static(
                str(self.prepared),
                str(output),
                None if cache.is_file() else self._reader(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=method[recipe.method],
                calibration_cache_path=str(cache),
                nodes_to_exclude=excluded,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )
        return onnx.load(output)

    @functools.cached_property
    def nodes(self) -> list:
        """The pre-processed graph's nodes, in order."""
        import onnx

        return list(onnx.load(self.prepared).graph.node)

    def excluded_nodes(self, recipe: Recipe) -> list[str]:
        """The names of the nodes `recipe` keeps in float."""
        nodes = self.nodes
        convolutions = [index for index, node in enumerate(nodes) if node.op_type == "Conv"]
        excluded: list[str] = []
        if recipe.float_first and convolutions:
            excluded.append(nodes[convolutions[0]].name)
        if recipe.float_head:
            excluded += [node.name for node in nodes[(convolutions[-1] + 1 if convolutions else 0) :]]
        if recipe.float_sensitive:
            ranked = [group for group in self.sensitivity_ranking(recipe.method) if not set(group) <= set(excluded)]
            for group in ranked[: recipe.float_sensitive]:
                excluded += [name for name in group if name not in excluded]
        return excluded

    def sensitivity_ranking(self, method: str) -> list[tuple[str, ...]]:
        """The quantizable nodes, noisiest first: onnxruntime's `qdq_loss_debug` runs the FP32 and the
        plainly quantized model on a few calibration images, and each node's output is ranked by its
        signal-to-quantization-noise ratio in the quantized model (lowest first). An activation comes
        with the node it follows (a Relu with its convolution), which onnxruntime quantizes as one."""
        if method in self._rankings:
            return self._rankings[method]
        import onnx
        from onnxruntime.quantization.qdq_loss_debug import (
            collect_activations,
            compute_activation_error,
            create_activation_matching,
            modify_model_output_intermediate_tensors,
        )

        quantized = self.root / f"{method}.debug.onnx"
        onnx.save(self.quantize(Recipe(method)), quantized)
        activations = {}
        for name, path in (("float", self.prepared), ("qdq", quantized)):
            augmented = self.root / f"{name}.augmented.onnx"
            modify_model_output_intermediate_tensors(str(path), str(augmented))
            activations[name] = collect_activations(str(augmented), self._reader(DEBUG_IMAGES, "ranking INT8 noise"))
        errors = compute_activation_error(create_activation_matching(activations["qdq"], activations["float"]))
        producers = {output: node for node in self.nodes for output in node.output}
        noise = {tensor: figures["qdq_err"] for tensor, figures in errors.items() if tensor in producers}
        noisy = sorted((ratio, tensor) for tensor, ratio in noise.items() if np.isfinite(ratio))
        ranking = list(dict.fromkeys(self._group(producers[tensor], producers) for _, tensor in noisy))
        self._rankings[method] = ranking
        return ranking

    @staticmethod
    def _group(node, producers: dict) -> tuple[str, ...]:
        before = producers.get(node.input[0]) if node.input else None
        if node.op_type in ACTIVATIONS and before is not None and before.op_type in ("Conv", "MatMul", "Gemm", "Add"):
            return (before.name, node.name)
        return (node.name,)
