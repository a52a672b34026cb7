"""`edgecls data`: built-in synthetic data (traffic lights), for the demo and for trying the kit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgecls.console import info

app = typer.Typer(help="Generate built-in synthetic data.", no_args_is_help=True)


@app.command("traffic-lights")
def traffic_lights(
    out: Annotated[Path, typer.Argument(help="Folder to write red/, yellow/, green/ and off/ into.", file_okay=False)],
    per_class: Annotated[int, typer.Option(min=1, help="Images per class.")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same images.")] = 0,
    size: Annotated[
        int | None,
        typer.Option(
            min=16,
            max=1024,
            help="Stretch every image to SIZE x SIZE (default: each at the size a camera gives its crop).",
        ),
    ] = None,
) -> None:
    """Render traffic-light images in class folders (red, yellow, green, off), as a camera sees them."""
    from edgecls.datasets.traffic_lights import write_dataset

    counts = write_dataset(out, per_class=per_class, seed=seed, size=size)
    info(f"wrote {sum(counts.values())} images to {out}")
    print(out)


@app.command("traffic-clip")
def traffic_clip(
    out: Annotated[Path, typer.Argument(help="The video file to write (.avi or .mp4).", dir_okay=False)],
    seconds: Annotated[float, typer.Option(min=0.5, help="Length of the clip.")] = 12.0,
    fps: Annotated[float, typer.Option(min=1.0, help="Frames per second.")] = 25.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    night: Annotated[
        bool, typer.Option("--night", help="A night street with street lamps, and a spell of flashing yellow.")
    ] = False,
    whole_frame: Annotated[
        bool, typer.Option("--whole-frame", help="Ground truth for the whole frame (no ROI) instead of the light's region.")
    ] = False,
) -> None:
    """Render a 640x480 clip of a traffic light cycling red/green/yellow (and off), with its ground truth beside it."""
    from edgecls.datasets.clips import truth_path
    from edgecls.datasets.traffic_lights import write_clip

    truth = write_clip(out, seconds=seconds, fps=fps, seed=seed, night=True if night else None, whole_frame=whole_frame)
    info(
        f"wrote {len(truth.states)} frames to {out}; ground truth (fps, light ROI, state per frame) in {truth_path(out)}"
    )
    print(out)
