"""INT8 that finds its own recipe: the per-class gate, the search, the attempts table, provenance."""

from __future__ import annotations

import json

import onnx
import pytest
from crafted_runs import band_run
from typer.testing import CliRunner

from edgecls.cli import app
from edgecls.core.errors import ParityError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from edgecls.console import import_tensorflow_quietly

    import_tensorflow_quietly()
    return band_run(tmp_path_factory.mktemp("band"))


def metadata(path) -> dict[str, str]:
    return {entry.key: entry.value for entry in onnx.load(path).metadata_props}


def test_a_class_that_collapses_under_int8_fails_the_export_and_is_named(run, tmp_path):
    out = tmp_path / "pinned.onnx"
    result = CliRunner().invoke(app, ["export", str(run), "--out", str(out), "--int8", "--int8-recipe", "minmax"])
    assert result.exit_code == 1, result.output
    # Overall agreement is above the 98% gate (6 of 406 flipped); one class lost all of its recall.
    assert "agreement 98.52%" in result.output
    assert "class middle lost 100.0 points of recall (100.0% with Keras, 0.0% here, 6 images; the limit is 5)" in result.output
    assert "Traceback" not in result.output
    assert "recipe  agreement" in result.output and "minmax  98.52%" in result.output  # the attempts table
    assert out.is_file() and not (tmp_path / "pinned.int8.onnx").exists()
    report = json.loads((tmp_path / "pinned.parity.json").read_text())["int8"]
    assert report["per_class"]["middle"] == {"images": 6, "keras_recall": 1.0, "recall": 0.0, "drop": 100.0}
    assert [attempt["recipe"] for attempt in report["attempts"]] == ["minmax"]


def test_the_search_writes_int8_with_the_first_recipe_that_passes(run, tmp_path):
    from edgecls.exporter.export import ExportConfig, export

    result = export(ExportConfig(source=run, out=tmp_path / "m.onnx", int8=True, fp16=True))
    report = result.reports["int8"]
    assert report.passed and report.recipe == "percentile"
    assert [(attempt["recipe"], attempt["passed"]) for attempt in report.attempts] == [("minmax", False), ("percentile", True)]
    assert report.attempts[0]["recall"]["middle"] == 0.0 and report.attempts[1]["recall"]["middle"] == 1.0
    assert all(attempt["latency_ms"] > 0 for attempt in report.attempts)
    stored = metadata(result.written["int8"])
    assert stored["int8_recipe"] == "percentile" and stored["calibration_images"] == "200"
    assert len(stored["calibration_sha256"]) == 64 and stored["training_files"] == "200"
    parity = json.loads(stored["parity"])
    assert parity["agreement"] == 1.0 and parity["images"] == 406 and parity["recall"]["middle"] == 1.0
    assert parity["gate"] == {"min_agreement": 0.98, "max_abs_diff": None, "max_recall_drop": 5.0}
    for precision in ("fp32", "fp16"):  # the same provenance, less what only INT8 has
        other = metadata(result.written[precision])
        assert other["training_files_sha256"] == stored["training_files_sha256"] and "int8_recipe" not in other
        assert json.loads(other["parity"])["gate"]["max_recall_drop"] == 5.0


def test_when_no_recipe_passes_the_export_fails_with_every_attempt(run, tmp_path, caplog):
    from edgecls.exporter.export import ExportConfig, export

    out = tmp_path / "none.onnx"
    with caplog.at_level("INFO"), pytest.raises(ParityError, match="none of the .* INT8 recipes tried passed") as raised:
        export(ExportConfig(source=run, out=out, int8=True, int8_min_agreement=1.01))  # a gate nothing meets
    attempts = [attempt["recipe"] for attempt in raised.value.result.reports["int8"].attempts]
    # The calibration methods first, then the closest one with more and more of the graph in float.
    assert attempts[:3] == ["minmax", "percentile", "entropy"]
    assert attempts[3].endswith("+first") and attempts[4].endswith("+first+head") and len(attempts) >= 5
    method = attempts[3].split("+")[0]
    assert method in ("percentile", "entropy") and all(name.startswith(method) for name in attempts[3:])
    table = next(record.message for record in caplog.records if record.message.startswith("INT8 recipes tried"))
    assert all(f"\n{name} " in table for name in attempts)
    assert not (tmp_path / "none.int8.onnx").exists() and out.is_file()


def test_bad_recipe_and_recall_flags_are_one_line(run, tmp_path):
    runner = CliRunner()
    cases = {
        ("--int8", "--int8-recipe", "fast"): "--int8-recipe 'fast' is not a recipe",
        ("--int8-recipe", "minmax"): "--int8-recipe chooses how INT8 is made: add --int8",
        ("--max-recall-drop", "150"): "--max-recall-drop is in points of recall, 0 to 100",
    }
    for flags, expected in cases.items():
        result = runner.invoke(app, ["export", str(run), "--out", str(tmp_path / "x.onnx"), *flags])
        assert result.exit_code == 2 and expected in result.output, result.output
        assert not (tmp_path / "x.onnx").exists()


def test_info_prints_the_contract_and_the_provenance_of_each_precision(run, tmp_path, color_model):
    from edgecls.exporter.export import ExportConfig, export

    result = export(ExportConfig(source=run, out=tmp_path / "m.onnx", int8=True, fp16=True))
    runner = CliRunner()
    for precision, path in result.written.items():
        text = runner.invoke(app, ["info", str(path)])
        assert text.exit_code == 0, text.output
        assert "classes         bright, dark, middle (3)" in text.output and f"precision       {precision}" in text.output
        assert "training files  200 (list sha256 " in text.output and "gate passed     agreement 100.00% on 406 images" in text.output
        assert ("INT8 recipe     percentile" in text.output) == (precision == "int8")
        card = json.loads(runner.invoke(app, ["info", str(path), "--format", "json"]).stdout)
        assert card["contract"]["precision"] == precision and card["contract"]["input"]["size"] == [32, 32]
        assert card["provenance"]["training_files"] == 200 and card["provenance"]["parity"]["images"] == 406
        assert (card["provenance"].get("calibration_images") == 200) == (precision == "int8")
    older = runner.invoke(app, ["info", str(color_model)])  # a model file without provenance
    assert older.exit_code == 0 and "provenance: not recorded" in older.output
    for bad in (run / "model.keras", tmp_path / "missing.onnx"):
        failed = runner.invoke(app, ["info", str(bad)])
        assert failed.exit_code == 2 and failed.output.startswith("error: ") and "Traceback" not in failed.output


def test_info_shows_a_hostile_files_provenance_without_driving_the_terminal(tmp_path):
    from edgecls.runtime.contract import build_metadata

    from onnx_models import color_classifier

    contract = build_metadata(("red", "green", "blue"), (32, 32), "mobilenetv3small", "int8", 0.9, "2026-01-01")
    hostile = {
        **contract,
        "int8_recipe": "\x1b]0;owned\x07minmax\n| forged row",
        "backbone": "mobilenet\x1b[2J",
        "training_files": "x" * 5000,
        "parity": json.dumps({"agreement": "all of them", "images": None}),
    }
    path = color_classifier(tmp_path / "hostile.onnx", metadata=hostile)
    result = CliRunner().invoke(app, ["info", str(path)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output and "\\x1b]0;owned\\x07minmax\\n| forged row" in result.output
    assert "x" * 201 not in result.output and "unreadable record" in result.output and "mobilenet\\x1b[2J" in result.output
    card = json.loads(CliRunner().invoke(app, ["info", str(path), "--format", "json"]).stdout)
    assert card["provenance"]["int8_recipe"].startswith("\x1b]0;owned")  # JSON keeps the value, escaped by JSON
