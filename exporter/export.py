"""`export`: a trained run -> model.onnx (+ model.fp16.onnx, model.int8.onnx), each through the
parity gate before it is written under its final name."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgecls.core.errors import EdgeclsError, ParityError
from edgecls.core.files import atomic_path, hold_paths, write_text_atomic
from edgecls.runtime.contract import MIN_CLASS_SCORES_KEY, build_metadata, is_clean_name
from edgecls.runtime.model import load_classifier, predict_in_batches

from .parity import Gate, ParityReport, compare

if TYPE_CHECKING:
    from edgecls.trainer.image_source import ImageSource

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportConfig:
    """What `edgecls export` does. Paths may be given as strings and are held as `Path`s."""

    source: Path  # a run directory, or a model.keras inside one
    out: Path | None = None  # the FP32 file; default <run>/model.onnx
    fp16: bool = False
    int8: bool = False
    calib_data: Path | None = None
    check_data: Path | None = None
    opset: int = 17
    calib_images: int = 200
    fp32_max_abs_diff: float = 1e-4
    fp16_min_agreement: float = 0.995
    int8_min_agreement: float = 0.98
    max_recall_drop: float = 5.0  # points of recall any class may lose against Keras, every precision
    int8_recipe: str | None = None  # pin one INT8 recipe (see exporter.int8); None: search
    # CLASS=SCORE: a class the runtime reports only at this probability or more (traffic lights' off)
    min_class_score: tuple[str, ...] = ()
    seed: int = 0
    force: bool = False  # replace existing ONNX files; export a model that does not beat chance

    def __post_init__(self) -> None:
        hold_paths(self, "source", "out", "calib_data", "check_data")


@dataclass
class ExportResult:
    written: dict[str, Path]  # precision -> file
    reports: dict[str, ParityReport]
    report_path: Path

    @property
    def failed(self) -> list[str]:
        """The precisions that failed their gate (and were not written)."""
        return [precision for precision, report in self.reports.items() if not report.passed]


@dataclass
class RunFiles:
    run_dir: Path
    model_path: Path
    classes: list[str]
    image_size: int
    backbone: str
    val_accuracy: float | None
    split: dict
    config: dict  # the run's config.json


def read_run(source: str | os.PathLike[str]) -> RunFiles:
    """Locate model.keras and what the runtime contract needs (classes, size, backbone) in a run."""
    path = Path(source)
    run_dir = path if path.is_dir() else path.parent
    model_path = path if path.is_file() else path / "model.keras"
    if not model_path.is_file():
        raise EdgeclsError(f"{source}: no model.keras found. Pass a run directory written by `edgecls train`.")
    needed = [run_dir / "config.json", run_dir / "split.json"]
    missing = [str(item) for item in needed if not item.is_file()]
    if missing:
        raise EdgeclsError(
            f"{source}: {', '.join(missing)} not found. Export needs the run directory `edgecls train` wrote "
            "(class names, image size and backbone are read from it)."
        )
    config = json.loads((run_dir / "config.json").read_text())
    split = json.loads((run_dir / "split.json").read_text())
    metrics_path = run_dir / "metrics.json"
    accuracy = json.loads(metrics_path.read_text()).get("val_accuracy") if metrics_path.is_file() else None
    return RunFiles(
        run_dir, model_path, split["classes"], int(config["image_size"]), config["backbone"], accuracy, split, config
    )


def _labelled_images(
    items: list[tuple[str, int]], size: int, role: str, scratch: Path
) -> tuple[list[str], np.ndarray, ImageSource]:
    """The images decoded once, at model size, into a file in `scratch` that every later read (each
    precision's check, each INT8 calibration) reads a batch at a time, as training reads its own."""
    from edgecls.runtime.images import DEFAULT_MAX_PIXELS
    from edgecls.trainer.data import decode_files

    pairs = [(Path(path), label) for path, label in items]
    split, skipped = decode_files(pairs, (size, size), DEFAULT_MAX_PIXELS, f"loading {role} images", scratch / f"{role}.rgb")
    if skipped:
        logger.warning(f"{len(skipped)} {role} image(s) could not be read and were left out")
    return split.paths, split.labels, split.images


def _folder_items(folder: str | os.PathLike[str], classes: list[str], role: str) -> list[tuple[str, int]]:
    from edgecls.runtime.folders import labelled_files

    return [(path, classes.index(name)) for path, name in labelled_files(folder, classes, role)]


def export(config: ExportConfig) -> ExportResult:
    """Export the run in every asked precision, gate each on parity, write the files and a report.

    Raises:
        ParityError: some precision failed its gate (it was not written; the others were).
        EdgeclsError: the run or the data folders are unusable.
    """
    _check_config(config)
    run = read_run(config.source)
    check_labels(run.classes)  # both refused before any work
    decision = min_class_scores(config.min_class_score, run.classes)
    targets = _targets(config, run)
    check_targets(targets, run, config.force)
    with tempfile.TemporaryDirectory(prefix="edgecls-export-") as scratch:
        reports, written = _export_precisions(config, run, targets, Path(scratch), decision)
    report_path = targets["fp32"].with_name(targets["fp32"].name.removesuffix(".onnx") + ".parity.json")
    write_text_atomic(report_path, json.dumps({p: r.to_dict() for p, r in reports.items()}, indent=2) + "\n")
    logger.info(f"parity report: {report_path}")
    _precision_notes(reports)
    result = ExportResult(written, reports, report_path)
    if result.failed:
        reasons = "; ".join(f"{name}: {'; '.join(reports[name].failures)}" for name in result.failed)
        raise ParityError(
            f"{', '.join(result.failed)} failed the parity gate and {'was' if len(result.failed) == 1 else 'were'} "
            f"not written ({reasons}; details in {report_path}). Check the images it flipped, or relax the gate with "
            "`fp16_min_agreement`, `int8_min_agreement`, `max_recall_drop` or `fp32_max_abs_diff` if the difference is "
            "acceptable.",
            result,
        )
    return result


def _export_precisions(
    config: ExportConfig, run: RunFiles, targets: dict[str, Path], scratch: Path, decision: dict[str, float]
) -> tuple[dict[str, ParityReport], dict[str, Path]]:
    """Convert, check and write each precision asked for; the reports, and the files written."""
    from edgecls.trainer.saving import load_keras_model

    paths, labels, images = _check_images(config, run, scratch)
    try:
        model = load_keras_model(run.model_path)
        logger.info(f"loaded {run.model_path}; checking against {len(paths)} images")
        checks = CheckSet(paths, labels, images, predict_in_batches(model.predict_on_batch, images, 32), run.classes)
        check_beats_chance(checks, config.force)
        protos, gflops = _convert(config, run, model)
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        provenance = {"gflops_per_image": f"{gflops:.4f}", **training_provenance(run), "check_images": str(len(paths))}
        if decision:
            provenance[MIN_CLASS_SCORES_KEY] = json.dumps(decision)
        written, reports = {}, {}
        for precision, target in targets.items():
            shape = (run.image_size, run.image_size)
            metadata = build_metadata(run.classes, shape, run.backbone, precision, run.val_accuracy, created, provenance)
            if precision == "int8":
                proto, report = _search_int8(config, run, protos["fp32"], metadata, checks, scratch)
            else:
                gate = _gate(config, precision)
                proto, report = protos[precision], check_parity(protos[precision], metadata, checks, gate, latency=True)
            reports[precision] = report
            if _write_if_passed(proto, report, target):
                written[precision] = target
        return reports, written
    finally:
        images.close()


MIN_IMAGES_TO_JUDGE = 30  # fewer check images than this cannot tell a model from a guess: warned, not refused


def check_beats_chance(checks: CheckSet, force: bool) -> None:
    """The Keras model must beat always answering the most common class, by a clear margin: at least
    5 points, or a fifth of the way from that share to 100%. A model that does not has not learnt,
    and exporting it would ship a guess (with under MIN_IMAGES_TO_JUDGE check images, a warning only).
    Classes without a check image are named: the gate cannot see them.

    Raises:
        EdgeclsError: the model does not beat chance, unless `force`.
    """
    counts = np.bincount(checks.labels, minlength=len(checks.classes))
    missing = [name for name, count in zip(checks.classes, counts, strict=True) if count == 0]
    if missing:
        logger.warning(
            f"class(es) {', '.join(missing)} have no check image: the gate cannot check them. Add images of them "
            "to the data (the validation split takes a share of each class), or pass `check_data`."
        )
    accuracy = float((checks.keras_probabilities.argmax(axis=1) == checks.labels).mean())
    majority = float(counts.max() / counts.sum())
    needed = majority + max(0.05, 0.2 * (1 - majority))
    if accuracy >= needed:
        return
    message = (
        f"the model is right on {accuracy:.1%} of the {counts.sum()} check images, and always answering "
        f"{checks.classes[int(counts.argmax())]} would be right on {majority:.1%}: it has not learnt (a model worth "
        f"shipping reaches {needed:.1%} or more here)."
    )
    if len(checks.labels) < MIN_IMAGES_TO_JUDGE:
        logger.warning(message + f" With under {MIN_IMAGES_TO_JUDGE} check images that is not proof: exported.")
    elif not force:
        raise EdgeclsError(
            message + " Train longer, with more images or another backbone; `force` exports it anyway."
        )
    else:
        logger.warning(message + " Exported anyway (`force`).")


def _check_config(config: ExportConfig) -> None:
    from .int8 import Recipe

    if not 0 <= config.max_recall_drop <= 100:
        raise EdgeclsError(f"`max_recall_drop` is in points of recall, 0 to 100; received {config.max_recall_drop:g}.")
    if config.int8_recipe is not None:
        if not config.int8:
            raise EdgeclsError("`int8_recipe` chooses how INT8 is made: add `int8`.")
        Recipe.parse(config.int8_recipe)


def check_labels(classes: list[str]) -> None:
    """Class names go into every output (terminals, the live page, JSON, events): one with a control
    character or an invisible mark that reorders text (a bidirectional override) is refused."""
    from edgecls.core.text import printable

    for name in classes:
        if not is_clean_name(name):
            raise EdgeclsError(
                f"class name {printable(name)!r} has a control character or a text-direction mark, which could "
                "forge or disguise what edgecls shows; rename its folder in the training data and train again."
            )


def min_class_scores(entries: tuple[str, ...] | list[str], classes: list[str]) -> dict[str, float]:
    """`min_class_score` entries (CLASS=SCORE) as a dict, each checked against the run's classes."""
    scores: dict[str, float] = {}
    for entry in entries:
        name, _, text = str(entry).partition("=")
        try:
            score = float(text)
        except ValueError:
            score = float("nan")
        if name not in classes or not 0 < score <= 1:
            raise EdgeclsError(
                f"`min_class_score` takes CLASS=SCORE, a class of the run ({', '.join(classes)}) and a score "
                f"above 0 and at most 1, e.g. off=0.9; received {entry!r}."
            )
        scores[name] = score
    if scores and len(scores) == len(classes):
        raise EdgeclsError("`min_class_score` names every class; leave at least one class without a minimum.")
    return scores


def _gate(config: ExportConfig, precision: str) -> Gate:
    if precision == "fp32":
        return Gate(1.0, config.fp32_max_abs_diff, config.max_recall_drop)
    agreement = config.fp16_min_agreement if precision == "fp16" else config.int8_min_agreement
    return Gate(agreement, max_recall_drop=config.max_recall_drop)


def split_items(split: dict, role: str) -> list[tuple[str, int]]:
    """The (path, label) pairs of split.json's `role` ("train" or "val"), each path as it is on disk:
    relative to its data folder (`roots`), or as written by a run from before roots were recorded."""
    root = split.get("roots", {}).get(role, "")
    return [(os.path.join(root, path), int(label)) for path, label in split[role]]


def training_provenance(run: RunFiles) -> dict[str, str]:
    """Where the model came from, for its metadata: how many training files and a hash of their list
    (paths and labels, as split.json has them), and a hash of the training configuration."""
    train = run.split["train"]
    return {
        "training_files": str(len(train)),
        "training_files_sha256": _json_hash(train),
        "training_config_sha256": _json_hash(run.config),
    }


def _json_hash(value) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _pixels_hash(images) -> str:
    """SHA-256 of the images' pixels (uint8, in order), read a batch at a time."""
    digest = hashlib.sha256()
    for start in range(0, len(images), 64):
        digest.update(np.ascontiguousarray(images[start : start + 64], dtype=np.uint8).tobytes())
    return digest.hexdigest()


def _targets(config: ExportConfig, run: RunFiles) -> dict[str, Path]:
    """Where each asked precision goes: `out` (default <run>/model.onnx), then .fp16/.int8 beside it."""
    fp32_path = Path(config.out) if config.out else run.run_dir / "model.onnx"
    stem = fp32_path.name.removesuffix(".onnx")
    targets = {"fp32": fp32_path}
    if config.fp16:
        targets["fp16"] = fp32_path.with_name(f"{stem}.fp16.onnx")
    if config.int8:
        targets["int8"] = fp32_path.with_name(f"{stem}.int8.onnx")
    return targets


def _check_images(config: ExportConfig, run: RunFiles, scratch: Path) -> tuple[list[str], np.ndarray, ImageSource]:
    """The images the gate compares on, decoded: `check_data`, or the run's validation split."""
    if config.check_data:
        items = _folder_items(config.check_data, run.classes, "`check_data`")
    else:
        items = split_items(run.split, "val")
    paths, labels, images = _labelled_images(items, run.image_size, "check", scratch)
    if not paths:
        raise EdgeclsError(
            "no images to check the export against: the run's validation images are gone. "
            "Pass `check_data` DIR (class subfolders)."
        )
    return paths, labels, images


def _convert(config: ExportConfig, run: RunFiles, model) -> tuple[dict, float]:
    """The FP32 graph and the FP16 / INT8 graphs made from it, and the model's GFLOPs per image."""
    from .convert import count_gflops, keras_to_onnx, to_float16

    started = time.perf_counter()
    fp32 = keras_to_onnx(model, (run.image_size, run.image_size), config.opset)
    logger.info(f"converted to ONNX (opset {config.opset}) in {time.perf_counter() - started:.1f}s")
    protos = {"fp32": fp32}
    if config.fp16:
        protos["fp16"] = to_float16(fp32)
    return protos, count_gflops(fp32, (run.image_size, run.image_size))


def _precision_notes(reports: dict[str, ParityReport]) -> None:
    """What each precision is for, with this CPU's measured batch-1 times where there are two to compare."""
    if "fp16" in reports:
        logger.info(
            "note: FP16 halves the file and speeds up GPUs with tensor cores; on a CPU it is not faster than FP32."
        )
    if "int8" not in reports or not reports["int8"].passed:
        return
    fp32, int8 = reports["fp32"].latency_ms, reports["int8"].latency_ms
    if fp32 is None or int8 is None:
        logger.info("note: INT8 is fastest on CPUs with VNNI (AVX512-VNNI or AVX-VNNI); without VNNI the gain is small.")
    elif int8 < fp32:
        logger.info(f"note: on this CPU at batch 1, INT8 takes {int8:.2f} ms per image and FP32 {fp32:.2f} ms ({fp32 / int8:.1f}x).")
    else:
        logger.info(
            f"note: on this CPU at batch 1, INT8 takes {int8:.2f} ms per image and FP32 {fp32:.2f} ms: for this model "
            "INT8 is not faster here (depthwise networks gain little); serve the FP32 file on this CPU."
        )


def check_targets(targets: dict[str, Path], run: RunFiles, force: bool) -> None:
    """Refuse, before any work, to write where it would destroy something: the source model or any
    file that is not ONNX is never replaced; an existing ONNX file only with `force`.

    Raises:
        EdgeclsError: naming the file and the way out.
    """
    for path in targets.values():
        if path.suffix != ".onnx":
            raise EdgeclsError(f"`out` {path}: the file must end in .onnx, e.g. {path.with_suffix('.onnx')}.")
        if not (path.exists() or path.is_symlink()):
            continue
        if path.is_dir() or (run.model_path.exists() and os.path.samefile(path, run.model_path)):
            raise EdgeclsError(f"`out` {path}: that is the run's model or a folder; choose another .onnx path.")
        if not _looks_like_onnx(path):
            raise EdgeclsError(f"`out` {path}: exists and is not an ONNX file; edgecls will not replace it.")
        if not force:
            raise EdgeclsError(f"{path} exists (an earlier export). Pass `force` to replace it, or `out` elsewhere.")


def _looks_like_onnx(path: Path) -> bool:
    """An ONNX file is a protobuf ModelProto, whose first field is ir_version (tag byte 0x08)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(1) == b"\x08"
    except OSError:
        return False


@dataclass
class CheckSet:
    """The images every export is checked on, with the Keras model's answers for them."""

    paths: list[str]
    labels: np.ndarray
    images: ImageSource  # read a batch at a time
    keras_probabilities: np.ndarray
    classes: list[str]


def check_parity(proto, metadata: dict[str, str], checks: CheckSet, gate: Gate, latency: bool = False) -> ParityReport:
    """`proto` with `metadata`, run through the real runtime from a temporary file on the check images
    and judged against `gate`; with `latency`, its time for one image at batch 1 too."""
    import onnx
    from onnx import helper

    helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto)
    with tempfile.TemporaryDirectory(prefix="edgecls-check-") as folder:
        path = Path(folder) / "model.onnx"
        onnx.save(proto, path)
        classifier = load_classifier(path, "cpu")
        onnx_probabilities = predict_in_batches(classifier.predict, checks.images, 32)
        report = compare(
            metadata["precision"], checks.keras_probabilities, onnx_probabilities, checks.paths, checks.classes, gate, checks.labels
        )
        if latency:
            report.latency_ms = _latency_ms(classifier, np.asarray(checks.images[0:1]))
    return report


def _latency_ms(classifier, image: np.ndarray) -> float:
    """Median milliseconds of one batch-1 run, over about half a second (after warming up)."""
    from edgecls.runtime.bench import BenchSettings, time_calls

    samples = time_calls(lambda: classifier.predict(image), BenchSettings(warmup=3, seconds=0.5, min_iterations=5))
    return 1000 * float(np.median(samples))


def _write_if_passed(proto, report: ParityReport, target: Path) -> bool:
    """Write a model that passed to `target` (beside it, then moved into place), its gate figures in
    its metadata. A failed precision moves an older file at `target` aside, so it cannot pass for this export's."""
    import onnx
    from onnx import helper

    logger.info(report.summary())
    if report.per_class:
        logger.info(f"{report.precision} {report.recall_line()}")
    if not report.passed:
        if target.exists():
            aside = target.with_name(target.name + ".old")
            os.replace(target, aside)
            logger.warning(f"{target} from an earlier export moved aside to {aside}: this export's {report.precision} failed")
        return False
    metadata = {entry.key: entry.value for entry in proto.metadata_props}
    helper.set_model_props(proto, {**metadata, "parity": json.dumps(parity_figures(report), sort_keys=True)})
    with atomic_path(target) as temporary:  # a name of its own: two exports to one file never mix
        onnx.save(proto, temporary)
    logger.info(f"wrote {target}")
    return True


def parity_figures(report: ParityReport) -> dict:
    """What the file records of the gate it passed."""
    return {
        "images": report.num_images,
        "agreement": round(report.agreement, 6),
        "max_abs_diff": float(f"{report.max_abs_diff:.3g}"),
        "worst_recall_drop": round(report.worst_drop, 2),
        "recall": {name: round(figures["recall"], 4) for name, figures in report.per_class.items()},
        "gate": report.gate,
    }


def _search_int8(config: ExportConfig, run: RunFiles, fp32, metadata: dict[str, str], checks: CheckSet, scratch: Path):
    """INT8 by the first recipe that passes the gate (or the pinned one): returns the model and its
    report, whose `attempts` list every recipe tried; the table of them is logged."""
    from .convert import INPUT_NAME
    from .int8 import Int8Quantizer, Recipe, search_int8, search_order

    images = _calibration_images(config, run, scratch)
    metadata = {**metadata, "calibration_images": str(len(images)), "calibration_sha256": _pixels_hash(images)}
    gate = _gate(config, "int8")
    pinned = [Recipe.parse(config.int8_recipe)] if config.int8_recipe else None

    def check(proto, recipe: Recipe) -> ParityReport:
        return check_parity(proto, {**metadata, "int8_recipe": recipe.name}, checks, gate, latency=True)

    try:
        with Int8Quantizer(fp32, images, INPUT_NAME) as quantizer:
            return search_int8(quantizer, pinned or search_order(), check, searching=pinned is None)
    finally:
        images.close()


def _calibration_images(config: ExportConfig, run: RunFiles, scratch: Path) -> ImageSource:
    """Up to `calib_images` images, spread over the classes, from `calib_data` or the run's training split."""
    if config.calib_data:
        items = _folder_items(config.calib_data, run.classes, "`calib_data`")
    else:
        items = split_items(run.split, "train")
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(items))[: config.calib_images]
    _, _, images = _labelled_images([items[index] for index in sorted(order)], run.image_size, "calibration", scratch)
    if len(images) == 0:
        raise EdgeclsError("no calibration images could be read for INT8. Pass `calib_data` DIR (class subfolders).")
    return images
