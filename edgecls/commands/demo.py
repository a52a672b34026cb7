"""`edgecls demo`: generate data, train, export, predict, serve a clip and bench, offline, in minutes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgecls.console import import_tensorflow_quietly, info
from edgecls.core.errors import require_extra
from edgecls.demo import DemoConfig


def demo(
    out: Annotated[
        Path, typer.Option(help="Folder for everything the demo makes (replaced if it holds an earlier demo).")
    ] = Path("demo-out"),
    per_class: Annotated[int, typer.Option(min=20, help="Training images per class.")] = DemoConfig.per_class,
    epochs: Annotated[int, typer.Option(min=2, help="Training epochs in all.")] = DemoConfig.epochs,
    seed: Annotated[int, typer.Option(help="Random seed.")] = DemoConfig.seed,
    imagenet: Annotated[
        bool, typer.Option(help="Use ImageNet weights when they can be had (else train from scratch).")
    ] = True,
) -> None:
    """Run the whole kit end to end on built-in traffic-light data."""
    require_extra("tensorflow")
    require_extra("tf2onnx")
    import_tensorflow_quietly()
    from edgecls.demo import run_demo

    result = run_demo(DemoConfig(out=out, per_class=per_class, epochs=epochs, seed=seed, try_imagenet=imagenet))
    info("\nedgecls demo: summary")
    for key, value in result.figures.items():
        info(f"  {key:28s} {value}")
    info("made:")
    for key, value in result.paths.items():
        info(f"  {key:28s} {value}")
    info("time: " + ", ".join(f"{stage} {seconds:.0f}s" for stage, seconds in result.seconds.items()))
