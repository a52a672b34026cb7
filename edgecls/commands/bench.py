"""`edgecls bench`: latency and throughput of ONNX models (and optionally their Keras original)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edgecls.console import info
from edgecls.core.errors import EdgeclsError
from edgecls.runtime.providers import Provider


def parse_batches(text: str) -> tuple[int, ...]:
    try:
        batches = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        batches = ()
    if not batches or min(batches) < 1:
        raise EdgeclsError(f"--batch must be positive numbers separated by commas, e.g. 1,8,32; received {text!r}.")
    return batches


def bench(
    models: Annotated[
        list[Path], typer.Argument(help="One or more .onnx files from `edgecls export`.", exists=True, dir_okay=False)
    ],
    provider: Annotated[
        Provider, typer.Option(help="auto, cpu, cuda or openvino; cuda and openvino fail where they cannot run.")
    ] = Provider.auto,
    batch: Annotated[str, typer.Option(help="Batch sizes, comma-separated.")] = "1,8",
    warmup: Annotated[int, typer.Option(min=0, help="Untimed calls before timing.")] = 10,
    iters: Annotated[int | None, typer.Option(min=1, help="Timed calls per batch size (default: --seconds).")] = None,
    seconds: Annotated[
        float, typer.Option(min=0.1, help="Timed seconds per batch size when --iters is not given.")
    ] = 5.0,
    threads: Annotated[int, typer.Option(min=0, help="CPU threads (0: the library decides).")] = 0,
    data: Annotated[
        Path | None,
        typer.Option(help="A labelled folder: accuracy and end-to-end ms per image.", exists=True, file_okay=False),
    ] = None,
    keras: Annotated[
        Path | None, typer.Option(help="A run directory or model.keras to time beside the ONNX files.", exists=True)
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write records and environment as JSON here.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG plot of latency and throughput here.")] = None,
) -> None:
    """Measure cold start, p50/p90/p99 latency and throughput per model, provider and batch size."""
    from edgecls.bench import bench_document, environment, format_table, plot_bench, run_bench
    from edgecls.runtime.bench import BenchSettings
    from edgecls.runtime.providers import create_session

    settings = BenchSettings(
        batches=parse_batches(batch), warmup=warmup, iterations=iters, seconds=seconds, threads=threads or None
    )
    info(create_session(str(models[0]), provider.value).note)
    if keras is not None:
        from edgecls.console import import_tensorflow_quietly

        import_tensorflow_quietly()
    records = run_bench(models, provider.value, settings, data=data, keras=keras)
    env = environment()
    print(format_table(records))
    print(
        f"\n{env['cpu']}, {env['cores']} cores; onnxruntime {env['onnxruntime']}; "
        f"GPU: {env['gpu'] or 'none'} ({env['cuda']})"
    )
    if json_out:
        from edgecls.core.files import write_text_atomic

        write_text_atomic(json_out, json.dumps(bench_document(records, settings, env), indent=2) + "\n")
        info(f"wrote {json_out}")
    if plot:
        plot_bench(records, plot, title=f"{env['cpu']} ({env['cores']} cores)")
        info(f"wrote {plot}")
