"""`edgecls demo`: the whole kit on built-in data, offline, in minutes.

data -> train -> export (FP32, FP16, INT8, each through the parity gate) -> predict held-out images
-> serve-camera on a generated clip, scored against its ground truth -> a short bench -> summary.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecls.core.errors import EdgeclsError, ParityError
from edgecls.core.files import hold_paths, write_text_atomic
from edgecls.datasets.clips import recall_by_class
from edgecls.exporter.export import ExportConfig

if TYPE_CHECKING:
    from edgecls.runtime.model import Classifier

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoConfig:
    out: Path = Path("demo-out")
    per_class: int = 2600
    val_per_class: int = 150
    test_per_class: int = 100
    clip_seconds: float = 12.0
    seed: int = 0
    backbone: str = "mobilenetv3small"  # with ImageNet weights: bottleneck, then fine-tuning
    scratch_backbone: str = "compactcnn"  # offline: trained from scratch, in minutes on a CPU
    image_size: int = 64  # the built-in crops are mostly 15-110 px wide; 64 px trains fast on a CPU
    epochs: int = 12  # many fresh images seen a few times teach more than a few images seen often
    patience: int = 6
    batch_size: int = 64
    learning_rate: float = 2e-3
    try_imagenet: bool = True
    # `off` must be earned: a lit lamp read as off is the worst error a traffic-light camera makes, and
    # off is rare in real use, so the exported model reports off only at this probability or more.
    off_min_score: float = 0.8
    fp16_min_agreement: float = ExportConfig.fp16_min_agreement  # the export's own gates
    int8_min_agreement: float = ExportConfig.int8_min_agreement

    def __post_init__(self) -> None:
        hold_paths(self, "out")


DEMO_MARKER = ".edgecls-demo"


@dataclass
class DemoResult:
    paths: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)  # numbers, notes and per-class dicts
    seconds: dict[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def _stage(result: DemoResult, name: str, title: str) -> Iterator[None]:
    """One stage of the demo: announced, timed into `result.seconds[name]`."""
    logger.info(f"== {title}")
    started = time.perf_counter()
    yield
    result.seconds[name] = round(time.perf_counter() - started, 1)
    logger.info(f"== {name} done in {result.seconds[name]:.0f}s")


def imagenet_available(backbone: str, image_size: int) -> tuple[bool, str]:
    """Whether ImageNet weights for `backbone` can be had (cached or downloadable) and why not."""
    from edgecls.trainer.backbones import build_backbone

    try:
        build_backbone(backbone, "imagenet", image_size)
    except EdgeclsError as error:
        return False, str(error).split(" (")[1].split(")")[0] if " (" in str(error) else str(error)
    return True, ""


def score_clip(classifier: Classifier, clip: Path, frames_out: Path, record: Path | None = None) -> dict:
    """Run serve-camera's loop on a clip that has a ground truth (see `edgecls.datasets.clips`) inside
    its ROI, and score the per-frame labels and the smoothed states against it."""
    from edgecls.datasets.clips import ClipTruth, score_frames
    from edgecls.runtime.live import LiveConfig, run_live
    from edgecls.runtime.sources import parse_source
    from edgecls.runtime.streams import FrameSource

    truth = ClipTruth.read(clip)
    source = FrameSource(parse_source(str(clip))).start()
    config = LiveConfig(smooth=3, roi=truth.roi, jsonl=frames_out, record=record)
    summary = run_live(classifier, source, config, on_status=logger.info)
    frames = [json.loads(line) for line in frames_out.read_text().splitlines()]
    scores = score_frames(truth, frames)
    logger.info(
        f"{summary.line()}\nper-frame accuracy {scores['clip_frame_accuracy']:.2%}, smoothed state "
        f"{scores['clip_smoothed_accuracy']:.2%} against the clip's ground truth ({len(frames)} frames); per-frame "
        "recall " + ", ".join(f"{name} {value:.1%}" for name, value in scores["clip_frame_recall"].items())
    )
    return {**scores, "clip_fps": round(summary.fps, 1)}


def run_demo(config: DemoConfig) -> DemoResult:
    """Run every stage into `config.out` (replaced if it holds an earlier demo) and return the figures."""
    out = _fresh_folder(config.out)
    result = DemoResult()
    with _stage(result, "data", "1/6 rendering traffic-light images and a test clip"):
        clip = _render(config, out, result)
    with _stage(result, "train", "2/6 training"):
        run_dir = _train(config, out, result)
    with _stage(result, "export", "3/6 exporting FP32, FP16 and INT8 through the parity gate"):
        written = _export(config, run_dir, result)
    with _stage(result, "predict", "4/6 predicting held-out images with the ONNX runtime"):
        classifier = _predict_held_out(written["fp32"], out, result)
    with _stage(result, "serve-camera", "5/6 serve-camera on the generated clips (headless)"):
        frames_out = out / "clip.frames.jsonl"
        result.figures.update(score_clip(classifier, clip, frames_out, record=out / "clip.annotated.avi"))
        result.paths.update(clip_frames=str(frames_out), clip_annotated=str(out / "clip.annotated.avi"))
        logger.info("the night clip: a dark street with street lamps and lit signs, and a spell of flashing yellow")
        night = score_clip(classifier, clip.with_name("clip-night.avi"), out / "clip-night.frames.jsonl")
        result.figures.update({key.replace("clip_", "night_clip_"): value for key, value in night.items()})
    with _stage(result, "bench", "6/6 a short benchmark"):
        _bench(written, result)
    document = {"figures": result.figures, "paths": result.paths, "seconds": result.seconds}
    write_text_atomic(out / "demo.json", json.dumps(document, indent=2) + "\n")
    result.paths["summary"] = str(out / "demo.json")
    return result


def _fresh_folder(out: Path) -> Path:
    """`out`, emptied if an earlier demo made it; a folder the demo did not make is never touched."""
    marker = out / DEMO_MARKER  # written first, so a demo that failed half-way is still recognised
    if out.exists():
        if not marker.exists() and not (out / "demo.json").exists() and any(out.iterdir()):
            raise EdgeclsError(f"`out` {out} exists and is not an earlier demo's folder; choose another `out`.")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    write_text_atomic(marker, "made by edgecls demo; replaced by the next demo\n")
    return out


def _render(config: DemoConfig, out: Path, result: DemoResult) -> Path:
    from edgecls.datasets.traffic_lights import write_clip, write_dataset

    write_dataset(out / "data" / "train", per_class=config.per_class, seed=config.seed)
    write_dataset(out / "data" / "val", per_class=config.val_per_class, seed=config.seed + 3)
    write_dataset(out / "data" / "held-out", per_class=config.test_per_class, seed=config.seed + 1)
    clip = out / "data" / "clip.avi"
    write_clip(clip, seconds=config.clip_seconds, seed=config.seed + 2)
    write_clip(clip.with_name("clip-night.avi"), seconds=config.clip_seconds, seed=config.seed + 5, night=True)
    result.paths.update(data=str(out / "data" / "train"), held_out=str(out / "data" / "held-out"), clip=str(clip))
    return clip


def _train(config: DemoConfig, out: Path, result: DemoResult) -> Path:
    """Bottleneck + fine-tuning where ImageNet weights can be had, else the compact network from scratch."""
    from edgecls.trainer.config import TrainConfig
    from edgecls.trainer.run import train

    if config.try_imagenet:
        pretrained, reason = imagenet_available(config.backbone, config.image_size)
    else:
        pretrained, reason = False, "not asked for"
    base = TrainConfig(
        data=out / "data" / "train",
        val_data=out / "data" / "val",  # every rendered training image trains
        image_size=config.image_size,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        flip=False,  # a horizontal light has red at the left: mirroring would teach the wrong order
        lr_schedule="cosine",  # a fixed budget of epochs, ending at a low rate
        patience=config.patience,
        out=out / "run",
        seed=config.seed,
        epochs=config.epochs // 2,
    )
    if pretrained:
        logger.info(
            f"ImageNet weights available: {config.backbone} at {config.image_size} px, bottleneck then fine-tuning"
        )
        train_config = replace(
            base,
            backbone=config.backbone,
            weights="imagenet",
            fine_tune_epochs=config.epochs // 4,
            fine_tune_layers="20",
        )
    else:
        logger.info(
            f"ImageNet weights not available ({reason}): training {config.scratch_backbone} from scratch at "
            f"{config.image_size} px instead, which works for this data on a CPU in a few minutes"
        )
        train_config = replace(
            base,
            backbone=config.scratch_backbone,
            weights="none",
            fine_tune_epochs=config.epochs - config.epochs // 2,
        )
    run = train(train_config)
    result.figures["val_accuracy"] = run.metrics["accuracy"]
    result.figures["weights"] = "imagenet" if pretrained else "none (offline)"
    result.paths["run"] = str(run.run_dir)
    return run.run_dir


def _export(config: DemoConfig, run_dir: Path, result: DemoResult) -> dict[str, Path]:
    """FP32, FP16 and INT8 through the gate; a failed INT8 gate is a result, not a broken demo."""
    from edgecls.exporter.export import ExportResult, export

    try:
        exported = export(
            ExportConfig(
                source=run_dir,
                fp16=True,
                int8=True,
                fp16_min_agreement=config.fp16_min_agreement,
                int8_min_agreement=config.int8_min_agreement,
                min_class_score=(f"off={config.off_min_score}",),
            )
        )
    except ParityError as error:
        if not isinstance(error.result, ExportResult) or error.result.failed != ["int8"]:
            raise
        logger.warning(f"{error} The demo goes on with FP32 and FP16.")
        exported = error.result
    for precision, report in exported.reports.items():
        result.figures[f"{precision}_agreement"] = round(report.agreement, 4)
        if report.passed:
            result.paths[f"onnx_{precision}"] = str(exported.written[precision])
        else:
            result.figures[f"{precision}_gate"] = "failed, not written"
    return exported.written


def _predict_held_out(model: Path, out: Path, result: DemoResult) -> Classifier:
    from edgecls.runtime import classify_files, collect_inputs, load_classifier
    from edgecls.runtime.folders import labelled_files

    classifier = load_classifier(model, "auto")
    held_out = out / "data" / "held-out"
    truth_by_path = dict(labelled_files(held_out))
    results = list(classify_files(classifier, collect_inputs([str(held_out)]), batch_size=32))
    correct = sum(r.ok and r.label == truth_by_path[r.path] for r in results)
    recall = recall_by_class([(truth_by_path[r.path], r.label or "") for r in results])
    result.figures["held_out_accuracy"] = round(correct / len(results), 4)
    result.figures["held_out_recall"] = recall
    for sample in results[:: max(1, len(results) // 4)][:4]:
        logger.info(f"  {Path(sample.path).name}: {sample.label} {sample.score:.3f}")
    logger.info(
        f"held-out accuracy {correct / len(results):.2%} on {len(results)} images; recall "
        + ", ".join(f"{name} {value:.1%}" for name, value in recall.items())
    )
    return classifier


def _bench(written: dict[str, Path], result: DemoResult) -> None:
    from edgecls.runtime.bench import BenchSettings, bench_onnx

    settings = BenchSettings(batches=(1, 8), warmup=5, seconds=1.5)
    for precision in [name for name in ("fp32", "int8") if name in written]:
        for record in bench_onnx(written[precision], "auto", settings):
            key = f"{precision}_batch{record['batch']}"
            result.figures[f"{key}_p50_ms"] = record["p50_ms"]
            result.figures[f"{key}_images_per_s"] = record["images_per_s"]
            logger.info(
                f"  {precision} batch {record['batch']}: p50 {record['p50_ms']:.2f} ms, "
                f"{record['images_per_s']:.0f} images/s on {record['provider']}"
            )
