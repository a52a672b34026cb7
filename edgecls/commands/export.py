"""`edgecls export`: a trained run -> one self-describing ONNX file (FP32, and FP16 / INT8 on request)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgecls.commands import config_from
from edgecls.console import import_tensorflow_quietly
from edgecls.core.errors import require_extra
from edgecls.exporter.export import ExportConfig

DEFAULTS = ExportConfig(source=Path())  # the flags' defaults are the library's
INT8_RECIPE_HELP = (
    "Pin the INT8 recipe instead of searching: minmax, percentile or entropy, then optionally +first, +head "
    "and +sensitiveN (those nodes kept in float), e.g. entropy+first+head."
)


def _folder(help: str):
    """An option naming a folder that must exist."""
    return typer.Option(help=help, exists=True, file_okay=False)


def export(
    source: Annotated[
        Path, typer.Argument(help="A run directory from `edgecls train`, or its model.keras.", exists=True)
    ],
    out: Annotated[Path | None, typer.Option(help="The FP32 .onnx file (default: <run>/model.onnx).")] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="Also write <name>.fp16.onnx (for GPUs).")] = False,
    int8: Annotated[
        bool, typer.Option("--int8", help="Also write <name>.int8.onnx (static QDQ, for VNNI CPUs).")
    ] = False,
    calib_data: Annotated[
        Path | None, _folder("INT8 calibration images (class subfolders); default: the run's training images.")
    ] = None,
    check_data: Annotated[
        Path | None, _folder("Parity-check images (class subfolders); default: the run's validation images.")
    ] = None,
    opset: Annotated[int, typer.Option(min=13, max=21, help="ONNX opset.")] = DEFAULTS.opset,
    calib_images: Annotated[
        int, typer.Option(min=1, help="How many images INT8 calibration uses.")
    ] = DEFAULTS.calib_images,
    fp32_max_abs_diff: Annotated[
        float, typer.Option("--fp32-max-diff", help="FP32 gate: largest allowed |Δ probability|.")
    ] = DEFAULTS.fp32_max_abs_diff,
    fp16_min_agreement: Annotated[
        float, typer.Option(help="FP16 gate: least top-1 agreement with Keras.")
    ] = DEFAULTS.fp16_min_agreement,
    int8_min_agreement: Annotated[
        float, typer.Option(help="INT8 gate: least top-1 agreement with Keras.")
    ] = DEFAULTS.int8_min_agreement,
    max_recall_drop: Annotated[
        float, typer.Option(help="Every gate: the most points of recall any class may lose against Keras.")
    ] = DEFAULTS.max_recall_drop,
    int8_recipe: Annotated[str | None, typer.Option(help=INT8_RECIPE_HELP)] = None,
    min_class_score: Annotated[
        list[str] | None,
        typer.Option(
            metavar="CLASS=SCORE",
            help="CLASS=SCORE: report CLASS only when its probability is at least SCORE, else the next most "
            "probable class (e.g. off=0.9: a lit lamp is never called off on a hunch). Repeatable."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace ONNX files of an earlier export; export a model that does not beat chance."),
    ] = False,
) -> None:
    """Export to ONNX with preprocessing and metadata inside; every precision must pass the parity gate."""
    require_extra("tf2onnx")
    require_extra("onnxconverter_common")
    import_tensorflow_quietly()
    from edgecls.exporter.export import export as run_export

    result = run_export(config_from(ExportConfig, locals(), min_class_score=tuple(min_class_score or ())))
    for path in result.written.values():
        print(path)
