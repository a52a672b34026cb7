"""What a `source` names and how it is shown (runtime/sources.py): files, devices, URLs, credentials
masked everywhere, secrets read from the environment."""

from __future__ import annotations

import time

import pytest
from helpers.clips import write_clip

from edgecls.core.errors import StreamError
from edgecls.runtime.sources import parse_source
from edgecls.runtime.streams import FrameSource


@pytest.fixture
def clip(tmp_path):
    states = ["red"] * 20 + ["green"] * 20 + ["blue"] * 20
    return write_clip(tmp_path / "clip.avi", states), states


def test_missing_sources_fail_fast_with_a_clear_message(tmp_path):
    with pytest.raises(StreamError, match="no such file"):
        parse_source(str(tmp_path / "missing.mp4"))
    started = time.perf_counter()
    with pytest.raises(StreamError, match="could not be opened"):
        FrameSource(parse_source("http://127.0.0.1:9/stream.mjpg"), open_timeout_s=2, read_timeout_s=2).start()
    assert time.perf_counter() - started < 5


def test_credentials_in_a_stream_url_are_never_printed(color_model):
    from typer.testing import CliRunner

    from edgecls.cli import app
    from edgecls.runtime.sources import mask_credentials

    url = "rtsp://admin:s3cret@127.0.0.1:9/live"
    assert mask_credentials(url) == "rtsp://admin:***@127.0.0.1:9/live"
    assert str(parse_source(url)) == "rtsp://admin:***@127.0.0.1:9/live"
    assert mask_credentials("http://host/path@x") == "http://host/path@x"  # no credentials: unchanged
    # a password with @ and / in it, a token alone, and secrets in the query
    assert mask_credentials("rtsp://admin:p@ss/w0rd@cam.local/live") == "rtsp://admin:***@cam.local/live"
    assert mask_credentials("http://T0KEN@cam.local/feed") == "http://***@cam.local/feed"
    query = "http://cam/x.mjpg?user=admin&password=s3&pwd=s3&token=s3&api_key=s3&Secret=s3&auth=s3&pass=s3&size=2"
    assert mask_credentials(query) == (
        "http://cam/x.mjpg?user=admin&password=***&pwd=***&token=***&api_key=***&Secret=***&auth=***&pass=***&size=2"
    )
    result = CliRunner().invoke(app, ["serve-camera", str(color_model), "--source", url, "--open-timeout", "0.5", "--fail-fast"])
    assert result.exit_code == 2 and "s3cret" not in result.output and "admin:***@" in result.output


def test_a_password_comes_from_the_environment_and_is_never_shown(monkeypatch, tmp_path):
    from edgecls.runtime.sources import expand_environment

    monkeypatch.setenv("CAM_PASSWORD", "p@ss/w0rd")
    spec = parse_source("rtsp://admin:${CAM_PASSWORD}@cam.local/live")
    assert spec.target == "rtsp://admin:p@ss/w0rd@cam.local/live"
    assert str(spec) == "rtsp://admin:***@cam.local/live"
    assert expand_environment("http://cam/x.mjpg?token=${CAM_PASSWORD}&size=2", "source").endswith("token=p@ss/w0rd&size=2")
    monkeypatch.delenv("CAM_PASSWORD")
    with pytest.raises(StreamError) as error:
        parse_source("rtsp://admin:${CAM_PASSWORD}@cam.local/live")
    assert "environment variable CAM_PASSWORD is not set" in str(error.value) and "export CAM_PASSWORD=" in str(error.value)


def test_a_config_file_with_passwords_that_others_can_read_is_warned_about(color_model, tmp_path):
    from typer.testing import CliRunner

    from edgecls.cli import app

    clip = write_clip(tmp_path / "red.avi", ["red"] * 3)
    config = tmp_path / "cameras.toml"
    config.write_text(f'[[camera]]\nname = "a"\nsource = "{clip}"\n[[camera]]\nname = "b"\nsource = "rtsp://admin:s3cret@127.0.0.1:9/x"\n')
    for mode, warned in ((0o644, True), (0o600, False)):
        config.chmod(mode)
        result = CliRunner().invoke(app, ["serve-camera", str(color_model), "--config", str(config), "--open-timeout", "0.3", "--fail-fast"])
        assert ("other users of this machine can read it: chmod 600" in result.output) is warned, result.output
        assert "s3cret" not in result.output
