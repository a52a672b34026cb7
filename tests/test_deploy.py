"""deploy/: the systemd unit as systemd reads it, and the junction's cameras file as serve-camera
reads it, with every secret from the environment file and none in the unit."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgecls.cli import app
from edgecls.runtime.cameras import read_cameras
from edgecls.runtime.sources import mask_credentials, parse_source

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNIT = (DEPLOY / "edgecls.service").read_text()


def exec_start() -> list[str]:
    """ExecStart's command line, its continuation lines joined."""
    line = re.search(r"^ExecStart=((?:.*\\\n)*.*)$", UNIT, re.M).group(1)
    return line.replace("\\\n", " ").split()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd's systemd-analyze")
def test_systemd_finds_nothing_to_say_about_the_unit(tmp_path):
    edgecls = Path(sys.executable).with_name("edgecls")  # this environment's, where the unit names /opt's
    unit = tmp_path / "edgecls.service"
    unit.write_text(UNIT.replace(exec_start()[0], str(edgecls)))
    checked = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and checked.stdout + checked.stderr == "", checked.stdout + checked.stderr


def test_the_unit_runs_serve_camera_with_flags_it_has_and_holds_no_secret():
    command = exec_start()
    assert command[0].startswith("/") and command[1] == "serve-camera"  # an absolute path, as systemd wants
    help_text = CliRunner().invoke(app, ["serve-camera", "--help"], env={"COLUMNS": "200"}).output
    flags = [part for part in command if part.startswith("--")]
    assert flags and all(flag in help_text for flag in flags), flags
    assert re.search(r"^Restart=on-failure$", UNIT, re.M) and re.search(r"^DynamicUser=yes$", UNIT, re.M)
    assert re.search(r"^EnvironmentFile=", UNIT, re.M)
    assert not re.search(r"^Environment=.*(PASSWORD|TOKEN|SECRET)", UNIT, re.M | re.I)


def test_the_junction_s_cameras_read_with_their_secrets_from_the_environment_file(monkeypatch):
    cameras = read_cameras(DEPLOY / "junction.toml")
    assert len(cameras) == 4 and sum(len(camera.lights) for camera in cameras) == 6
    names = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (DEPLOY / "edgecls.env.example").read_text(), re.M))
    needed = {name for camera in cameras for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", camera.source)}
    assert needed and needed <= names and "EDGECLS_HTTP_TOKEN" in names
    assert all("${" in camera.source or mask_credentials(camera.source) == camera.source for camera in cameras)
    for name in needed:
        monkeypatch.setenv(name, "s3cret/with@odd")
    for camera in cameras:
        spec = parse_source(camera.source)
        assert spec.kind == "network" and "s3cret" not in str(spec)  # expanded, and masked when shown
