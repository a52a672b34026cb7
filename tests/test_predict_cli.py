from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from edgecls.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_messy_folder_json_lines(color_model, messy_folder):
    folder, expected = messy_folder
    result = invoke("predict", str(color_model), str(folder), "--format", "json", "--batch", "4", "--provider", "cpu")
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_path = {line["path"]: line for line in lines}
    assert set(by_path) == set(expected)
    for path, label in expected.items():
        line = by_path[path]
        if label is None:
            assert "error" in line and line["error"], path
        elif label == "gray-ok":
            assert line["label"] in {"red", "green", "blue"}
        else:
            assert line["label"] == label, (path, line)
            assert 0.0 <= line["score"] <= 1.0
            assert line["topk"][0] == {"label": line["label"], "score": line["score"]}
    assert "40000x40000" in by_path[str(folder / "bomb.png")]["error"]
    assert "broken symlink" in by_path[str(folder / "broken link.png")]["error"]
    assert "empty file" in by_path[str(folder / "empty.jpg")]["error"]
    assert "Traceback" not in result.output


def test_table_topk_and_csv(color_model, messy_folder):
    folder, _ = messy_folder
    good = str(folder / "red.png")
    table = invoke("predict", str(color_model), good, "--topk", "3")
    assert table.exit_code == 0, table.output
    assert "red" in table.stdout and "[red" in table.stdout and table.stdout.count("\n") == 1
    csv_out = invoke("predict", str(color_model), good, str(folder / "notes.jpg"), "--format", "csv")
    assert csv_out.exit_code == 1
    rows = csv_out.stdout.splitlines()
    assert rows[0] == "path,label,score,topk,error"
    assert len(rows) == 3 and "not an image" in csv_out.stdout


def test_globs_and_missing_paths(color_model, messy_folder):
    folder, _ = messy_folder
    result = invoke(
        "predict",
        str(color_model),
        str(folder / "*.bmp"),
        str(folder / "**" / "*.bmp"),
        str(folder / "nope.png"),
        "--format",
        "json",
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {line.get("error") for line in lines} == {"no files match this pattern", None, "not found"}
    assert [line["label"] for line in lines if "label" in line] == ["red"]
    assert result.exit_code == 1


def test_an_empty_folder_is_a_failed_input_that_says_so(color_model, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no pictures here")
    result = invoke("predict", str(color_model), str(tmp_path / "empty"), "--format", "json")
    (line,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert line["path"] == str(tmp_path / "empty") and line["error"].startswith("no image files in this folder (")
    assert ".jpg" in line["error"] and result.exit_code == 1


def test_user_errors_have_no_traceback(color_model, tmp_path):
    bogus = tmp_path / "bogus.onnx"
    bogus.write_text("not a model")
    result = invoke("predict", str(bogus), str(tmp_path))
    assert result.exit_code == 2 and "error:" in result.stderr and "Traceback" not in result.output
    usage = invoke("predict", str(color_model), str(tmp_path), "--provider", "tpu")
    assert usage.exit_code == 2


def test_cli_and_runtime_start_without_tensorflow():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from edgecls.cli import app\n"
        "import edgecls.runtime\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'predict' in result.output\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx')))\n"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "[]"


def test_importing_edgecls_modules_writes_nothing(tmp_path):
    code = "import edgecls.cli, edgecls.runtime, edgecls.runtime.classify, edgecls.runtime.providers"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True)
    assert list(Path(tmp_path).iterdir()) == []


def test_a_missing_extra_names_the_pip_command():
    import pytest

    from edgecls.core.errors import MissingExtraError, require_extra

    with pytest.raises(MissingExtraError, match=r"pip install 'edgecls\[train\]'"):
        require_extra("no_such_module_for_edgecls")
    require_extra("numpy")  # present: no error
