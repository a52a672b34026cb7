"""What an edgecls ONNX file says about itself: its contract and its provenance (`edgecls info`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgecls.core.text import printable, shown

from .contract import REQUIRED_KEYS

# Written by `edgecls export` beside the contract; a file from an older export may have none.
PROVENANCE_KEYS = (
    "training_files",
    "training_files_sha256",
    "training_config_sha256",
    "check_images",
    "calibration_images",
    "calibration_sha256",
    "int8_recipe",
    "parity",
)
JSON_KEYS = ("parity",)
COUNT_KEYS = ("training_files", "check_images", "calibration_images")


def describe(path: str | os.PathLike[str]) -> dict:
    """The file's contract (checked, as the runtime checks it) and its provenance, as plain values.

    Raises:
        ModelContractError: not an edgecls ONNX file, with what is wrong and the fix.
    """
    from .model import load_classifier

    path = Path(path)
    classifier = load_classifier(path, "cpu")
    info, session = classifier.info, classifier.session
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    contract = {
        "contract": metadata["edgecls.contract"],
        "classes": list(info.classes),
        "input": {"name": info.input_name, "type": "uint8", "layout": "NHWC", "size": list(info.input_size)},
        "color_order": info.color_order,
        "resize": info.resize,
        "output": {"name": info.output_name, "type": "float32", "meaning": info.output},
        "backbone": info.backbone,
        "precision": info.precision,
        "val_accuracy": info.val_accuracy,
        "min_class_scores": dict(info.min_class_scores),
        "edgecls_version": info.edgecls_version,
        "created": info.created,
        "gflops_per_image": float(metadata["gflops_per_image"]) if metadata.get("gflops_per_image") else None,
    }
    provenance = {key: _value(key, metadata[key]) for key in PROVENANCE_KEYS if key in metadata}
    others = {key: value for key, value in metadata.items() if key not in (*REQUIRED_KEYS, *PROVENANCE_KEYS, *contract)}
    return {"file": str(path), "bytes": path.stat().st_size, "contract": contract, "provenance": provenance, "other": others}


def _value(key: str, text: str):
    if key in JSON_KEYS:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    if key in COUNT_KEYS and text.isdigit():
        return int(text)
    return text


def format_text(card: dict) -> str:
    """`describe`'s answer for a person: the contract, then the provenance."""
    contract, provenance = card["contract"], card["provenance"]
    size = "x".join(str(side) for side in contract["input"]["size"])
    accuracy = contract["val_accuracy"]
    lines = [
        f"{shown(card['file'])} ({card['bytes'] / 1e6:.2f} MB)",
        f"  contract        edgecls {contract['contract']}",
        f"  classes         {', '.join(contract['classes'])} ({len(contract['classes'])})",
        f"  input           {shown(contract['input']['name'])}: uint8 [batch, {size.replace('x', ', ')}, 3], "
        f"{contract['color_order']}, resized by '{contract['resize']}'",
        f"  output          {shown(contract['output']['name'])}: float32 [batch, {len(contract['classes'])}], "
        + ("logits (edgecls applies softmax)" if contract["output"]["meaning"] == "logits" else "probabilities"),
        f"  backbone        {shown(contract['backbone'])}",
        f"  precision       {contract['precision']}",
        *(
            [f"  decision        {', '.join(f'{shown(k)} only at p >= {v:g}' for k, v in contract['min_class_scores'].items())}"]
            if contract["min_class_scores"]
            else []
        ),
        f"  val accuracy    {'-' if accuracy is None else f'{accuracy:.2%}'} (the Keras model's, at training)",
        f"  exported        {shown(contract['created'] or '-')} by edgecls {shown(contract['edgecls_version'] or '?')}",
    ]
    if not provenance:
        return "\n".join([*lines, "provenance: not recorded (exported by an edgecls that did not record it)"])
    values = {key: shown(value) for key, value in provenance.items()}
    lines.append("provenance")
    if "training_files" in values:
        lines.append(f"  training files  {values['training_files']} (list sha256 {values.get('training_files_sha256', '-')})")
    if "training_config_sha256" in values:
        lines.append(f"  train config    sha256 {values['training_config_sha256']}")
    if "calibration_images" in values:
        lines.append(f"  calibration     {values['calibration_images']} images (pixels sha256 {values.get('calibration_sha256', '-')})")
    if "int8_recipe" in values:
        lines.append(f"  INT8 recipe     {values['int8_recipe']}")
    if "parity" in provenance:
        lines += _parity_lines(provenance["parity"])
    return "\n".join(lines)


def _parity_lines(parity) -> list[str]:
    """The gate the file passed, or one line where its record is not the one `export` writes."""
    try:
        return _parity_figures(parity)
    except (AttributeError, KeyError, TypeError, ValueError):
        return [f"  gate passed     (unreadable record: {shown(json.dumps(parity) if not isinstance(parity, str) else parity)})"]


def _parity_figures(parity: dict) -> list[str]:
    gate = parity.get("gate", {})
    limits = [f"agreement >= {gate['min_agreement']:.2%}" if gate.get("min_agreement") is not None else ""]
    limits += [f"|Δp| <= {gate['max_abs_diff']:g}" if gate.get("max_abs_diff") is not None else ""]
    limits += [f"recall drop <= {gate['max_recall_drop']:g} points" if gate.get("max_recall_drop") is not None else ""]
    recall = ", ".join(f"{printable(str(name))} {value:.1%}" for name, value in parity.get("recall", {}).items())
    return [
        f"  gate passed     agreement {parity['agreement']:.2%} on {parity['images']} images, max |Δp| "
        f"{parity['max_abs_diff']:g}, worst class recall drop {parity['worst_recall_drop']:g} points",
        f"  gate limits     {', '.join(limit for limit in limits if limit)}",
        f"  recall          {recall}",
    ]
