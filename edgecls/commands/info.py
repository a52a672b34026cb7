"""`edgecls info`: what an exported model promises (its contract) and where it came from."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer


class InfoFormat(str, Enum):
    text = "text"
    json = "json"


def info(
    model: Annotated[Path, typer.Argument(help="An .onnx file written by `edgecls export`.")],
    output_format: Annotated[InfoFormat, typer.Option("--format", help="text or json.")] = InfoFormat.text,
) -> None:
    """Print a model's contract (classes, input, precision) and provenance (training data, calibration,
    INT8 recipe, the gate it passed)."""
    from edgecls.runtime.info import describe, format_text

    card = describe(model)
    print(json.dumps(card, indent=2, ensure_ascii=False) if output_format is InfoFormat.json else format_text(card))
