"""`edgecls predict`: classify image files, folders and globs with an exported ONNX model."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated, TextIO

import typer

from edgecls.console import Progress, info, shell_text
from edgecls.core.errors import EdgeclsError
from edgecls.core.text import printable, utf8_text
from edgecls.runtime.images import DEFAULT_MAX_PIXELS
from edgecls.runtime.providers import Provider


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def predict(
    model: Annotated[Path, typer.Argument(help="The .onnx file written by `edgecls export`.", dir_okay=False)],
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Image files, folders (searched recursively), glob patterns or @LIST (a file of paths, one a line); "
            "with --ray also s3://, gs://, ... paths."
        ),
    ],
    provider: Annotated[Provider, typer.Option(help="auto (CUDA, else OpenVINO where installed, else CPU), cpu, cuda or openvino.")] = Provider.auto,
    batch: Annotated[int, typer.Option(min=1, max=1024, help="Images per inference call (with --ray: in each actor).")] = 16,
    topk: Annotated[int, typer.Option(min=1, help="How many ranked labels to report per image.")] = 1,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="table, json (JSON Lines) or csv.")
    ] = OutputFormat.table,
    threads: Annotated[int, typer.Option(min=0, help="CPU threads for inference (0: onnxruntime decides).")] = 0,
    max_pixels: Annotated[
        int, typer.Option(min=1, help="Refuse images larger than this many pixels.")
    ] = DEFAULT_MAX_PIXELS,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="Run on a Ray cluster: --ray alone joins the cluster `ray start` runs on this machine (else starts "
            "a private one); --ray auto, --ray HOST:PORT or --ray ray://HOST:10001 name one. Inputs may also be "
            "s3://, gs://, ... paths. Needs the ray extra.",
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=0, help="With --ray: actors, each with one model session (0: one per CPU the cluster offers, or per GPU).")
    ] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="With --ray: write the rows as Parquet files into this new folder instead of stdout.", file_okay=False),
    ] = None,
) -> None:
    """Classify images (files, folders, globs, @LIST files of paths). Exit code 0 when every file was
    classified, 1 when any failed."""
    from edgecls.runtime import classify_files, collect_inputs, load_classifier

    if ray is None and (workers or out is not None):
        raise EdgeclsError(f"{'`workers`' if workers else '`out`'} applies to a run on a cluster: add --ray.")
    if ray is not None and threads:
        raise EdgeclsError("`threads` applies to local predict: with --ray each actor runs on the CPUs Ray gave it (see --workers).")
    if ray is None:
        classifier = load_classifier(model, provider, threads=threads or None)
        info(
            f"{model}: {classifier.info.num_classes} classes, {classifier.info.backbone}, "
            f"{classifier.info.precision}, {classifier.provider_note}"
        )
        inputs = collect_inputs(paths)
        results = classify_files(classifier, inputs, batch_size=batch, topk=topk, max_pixels=max_pixels)
        _report(results, len(inputs), _writer(output_format, topk, sys.stdout), stream=sys.stdout)
        return
    from edgecls.runtime import cluster

    shards = cluster.ParquetShards(out) if out is not None else None
    classifier = load_classifier(model, "cpu", threads=1)  # the driver checks the contract; actors infer
    info(f"{model}: {classifier.info.num_classes} classes, {classifier.info.backbone}, {classifier.info.precision}")
    with cluster.stdout_for_rows() as rows:
        info(cluster.connect(ray))
        try:
            inputs = collect_inputs(paths, remote=cluster.RemoteFiles().expand)
            results = cluster.classify_on_cluster(
                classifier, inputs, provider=provider, batch_size=batch, topk=topk, max_pixels=max_pixels, workers=workers
            )
            _report(results, len(inputs), shards.write if shards else _writer(output_format, topk, rows), shards, rows)
        finally:
            cluster.shutdown()


def _report(results, total: int, write, shards=None, stream: TextIO | None = None) -> None:
    """Write each result as it comes (to `shards`, or by `write` to `stream`), with progress on
    stderr; the totals at the end, and exit code 1 when any input failed."""
    num_failed = 0
    try:
        with Progress(total, "classifying") as progress:
            for result in results:
                write(replace(result, error=shell_text(result.error)) if result.error and not shards else result)
                num_failed += not result.ok
                progress.update()
    finally:  # interrupted or failed part way: what was classified is kept
        if stream is not None:
            stream.flush()
        if shards is not None:
            shards.flush()
            info(f"wrote {shards.rows} rows to {len(shards.files)} Parquet file(s) in {shards.folder}")
    info(f"{total - num_failed} classified, {num_failed} failed")
    if num_failed:
        raise typer.Exit(1)


def _writer(output_format: OutputFormat, topk: int, stream: TextIO):
    """One function per format that writes a result to `stream` (stdout). Every output is valid UTF-8 whatever the
    names on disk (bytes that are not UTF-8 appear as \\xNN); table and CSV also escape control
    characters, so a name holding a tab, a newline or a terminal escape cannot forge rows or colours."""
    if output_format is OutputFormat.json:  # JSON escapes control characters itself
        return lambda result: print(json.dumps(_text_fields(result.to_dict(), utf8_text), ensure_ascii=False), file=stream)
    if output_format is OutputFormat.csv:
        writer = csv.writer(stream)
        writer.writerow(["path", "label", "score", "topk", "error"])

        def write_csv(result) -> None:
            ranked = ";".join(f"{label}:{score:.6f}" for label, score in result.topk)
            score = "" if result.score is None else f"{result.score:.6f}"
            row = [result.path, result.label or "", score, ranked, result.error or ""]
            writer.writerow([printable(cell) for cell in row])

        return write_csv

    def write_row(result) -> None:
        path = printable(result.path)
        if result.error is not None:
            print(f"{path}\tERROR: {printable(result.error)}", file=stream)
        elif topk > 1:
            ranked = ", ".join(f"{printable(label)} {score:.3f}" for label, score in result.topk)
            print(f"{path}\t{printable(result.label)}\t{result.score:.3f}\t[{ranked}]", file=stream)
        else:
            print(f"{path}\t{printable(result.label)}\t{result.score:.3f}", file=stream)

    return write_row


def _text_fields(value, convert):
    """`value` (a JSON-able structure) with `convert` applied to every string in it."""
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, dict):
        return {key: _text_fields(item, convert) for key, item in value.items()}
    if isinstance(value, list):
        return [_text_fields(item, convert) for item in value]
    return value
