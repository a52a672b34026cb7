"""`edgecls serve-camera`: live classification (e.g. traffic-light state) from a camera, file or stream."""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from edgecls.commands import config_from
from edgecls.console import info, shell_text
from edgecls.core.errors import StreamError
from edgecls.core.text import printable
from edgecls.runtime.live import LiveConfig, LiveSummary
from edgecls.runtime.providers import Provider


def parse_roi(text: str | None) -> tuple[int, int, int, int] | None:
    if not text:
        return None
    try:
        x, y, width, height = (int(part) for part in text.split(","))
    except ValueError:
        raise StreamError(f"--roi must be X,Y,W,H in pixels, e.g. 200,40,120,300; received {text!r}.") from None
    if width <= 0 or height <= 0 or x < 0 or y < 0:
        raise StreamError(f"--roi needs X, Y >= 0 and W, H > 0; received {text!r}.")
    return x, y, width, height


SourceOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="SOURCE",
        help="Camera index (0), device (/dev/video0), video file, or rtsp:// / http:// URL; repeat it for "
        "several cameras (one light each, the whole frame). ${NAME} is read from the environment "
        "(rtsp://admin:${CAM_PASSWORD}@host/...), so no password need be on the command line. Default: 0.",
    ),
]

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        exists=True,
        dir_okay=False,
        help="A TOML file of cameras, each with its source and named lights (regions): "
        '[[camera]] name = "north", source = "rtsp://...", [[camera.light]] name = "main", roi = [x, y, w, h].',
    ),
]

WebhookOption = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        help="POST every change of state as JSON to this http(s) URL (retried with backoff); ${NAME} is read "
        "from the environment.",
    ),
]

HttpTokenOption = Annotated[
    str | None,
    typer.Option(
        envvar="EDGECLS_HTTP_TOKEN",
        metavar="TOKEN",
        show_envvar=True,
        help="Every HTTP path but /healthz and /readyz needs this token (Bearer header, or /?token= once in a "
        "browser). Prefer the environment variable: a flag's value shows in `ps`.",
    ),
]

HttpOption = Annotated[
    str | None,
    typer.Option(
        metavar="HOST:PORT", help="Serve /state, /stream.mjpg and a live page on HOST:PORT (e.g. 127.0.0.1:8080)."
    ),
]

AllowHostOption = Annotated[
    list[str] | None,
    typer.Option(metavar="NAME", help="A Host name the loopback server also answers (a reverse proxy's); repeatable."),
]

DEFAULT_CLASSIFY_FPS = 5.0  # a traffic light changes a few times a minute; flashing is about 1 Hz

ClassifyFpsOption = Annotated[
    float | None,
    typer.Option(
        min=0.0,
        metavar="N",
        help="Classify each light N times a second, on a schedule; the frames in between are read but not decoded. "
        "0: every frame. Default: 5 for cameras and streams, every frame of a file (unless --realtime). "
        "A camera in --config may set its own `classify_fps`.",
    ),
]
HeartbeatOption = Annotated[
    float,
    typer.Option(
        "--heartbeat",
        min=0.0,
        metavar="SECONDS",
        help="A light whose region has not changed since its last classification is not run through the model "
        "again (its last answer stands), but is classified at least every SECONDS. 0: every time.",
    ),
]

MqttOption = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        help="Publish every light's state to this MQTT broker, mqtt://[user:pass@]HOST[:PORT] or mqtts://..., "
        "with Home Assistant discovery; ${NAME} is read from the environment. Credentials also from "
        "EDGECLS_MQTT_USER / EDGECLS_MQTT_PASSWORD or the --config file's [mqtt] table (url, user, password).",
    ),
]

MqttCaOption = Annotated[
    Path | None,
    typer.Option(metavar="FILE", dir_okay=False, help="The CA certificate (PEM) for an mqtts:// broker (default: the system's)."),
]

MqttPrefixOption = Annotated[
    str | None,
    typer.Option(metavar="PREFIX", help="Topics under PREFIX/<camera>/<light>/... (default: edgecls)."),
]

CollectOption = Annotated[
    Path | None,
    typer.Option(
        metavar="DIR",
        file_okay=False,
        help="Save the crops that teach the most (the model unsure, every change of state, a sparse sample of sure "
        "ones) as DIR/<class>/<name>.jpg with a .json beside each: move the wrong ones, then "
        "`edgecls train --data DIR --from RUN`.",
    ),
]

CollectMaxOption = Annotated[
    int, typer.Option(min=1, metavar="N", help="--collect keeps at most N crops in DIR (counting those already there).")
]

CollectMaxMbOption = Annotated[
    float, typer.Option(min=1.0, metavar="MB", help="--collect keeps at most this many megabytes of crops in DIR.")
]

HwaccelOption = Annotated[
    str,
    typer.Option(
        metavar="NAME",
        help="Hardware decoding for RTSP, files and non-MJPEG HTTP streams, through FFmpeg: auto (a device "
        "FFmpeg finds, else software), none, vaapi, drm, mfx (Quick Sync) or d3d11. A named one that does not "
        "work here stops the run.",
    ),
]

DecodeThreadsOption = Annotated[
    int,
    typer.Option(
        min=0,
        metavar="N",
        help="FFmpeg decoder threads per stream; 0: the cores shared among the streams (one each with many cameras).",
    ),
]

FailFastOption = Annotated[
    bool, typer.Option("--fail-fast", help="Exit if a live source is down at start, instead of waiting for it.")
]

RealtimeOption = Annotated[
    bool, typer.Option("--realtime", help="Play a file at its frame rate, dropping frames like a live source.")
]


StallTimeoutOption = Annotated[
    float,
    typer.Option("--stall-timeout", min=0.5, help="Seconds without a fresh frame before a live source is lost."),
]

SmoothOption = Annotated[int, typer.Option(min=1, help="Average over the last N frames, with hysteresis.")]

MinScoreOption = Annotated[
    float, typer.Option(min=0.0, max=1.0, help="Below this smoothed score the state is 'unknown'.")
]


def serve_camera(
    model: Annotated[Path, typer.Argument(help="The .onnx file written by `edgecls export`.", dir_okay=False)],
    source: SourceOption = None,
    config: ConfigOption = None,
    provider: Annotated[Provider, typer.Option(help="auto (CUDA, else OpenVINO where installed, else CPU), cpu, cuda or openvino.")] = Provider.auto,
    show: Annotated[bool, typer.Option("--show", help="Show a window with the overlay (q quits).")] = False,
    record: Annotated[Path | None, typer.Option(help="Write the annotated video here (.avi or .mp4).")] = None,
    jsonl: Annotated[
        Path | None, typer.Option(help="One JSON object per processed frame to PATH, or - for stdout.")
    ] = None,
    events: Annotated[
        Path | None, typer.Option(help="Every change of state as one JSON object to PATH, or - for stdout.")
    ] = None,
    webhook: WebhookOption = None,
    mqtt: MqttOption = None,
    mqtt_ca: MqttCaOption = None,
    mqtt_prefix: MqttPrefixOption = None,
    collect: CollectOption = None,
    collect_max: CollectMaxOption = 2000,
    collect_max_mb: CollectMaxMbOption = 500.0,
    smooth: SmoothOption = LiveConfig.smooth,
    min_score: MinScoreOption = LiveConfig.min_score,
    roi: Annotated[
        str | None, typer.Option(metavar="X,Y,W,H", help="Classify only this region: X,Y,W,H in pixels.")
    ] = None,
    max_frames: Annotated[int | None, typer.Option(min=1, help="Stop after this many processed frames.")] = None,
    http: HttpOption = None,
    http_allow_host: AllowHostOption = None,
    http_token: HttpTokenOption = None,
    realtime: RealtimeOption = False,
    threads: Annotated[
        int, typer.Option(min=0, help="CPU threads for inference (0: the cores shared among the cameras, at least one).")
    ] = 0,
    open_timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for the source to open.")] = 5.0,
    stall_timeout_s: StallTimeoutOption = LiveConfig.stall_timeout_s,
    fail_fast: FailFastOption = False,
    classify_fps: ClassifyFpsOption = None,
    heartbeat_s: HeartbeatOption = LiveConfig.heartbeat_s,
    hwaccel: HwaccelOption = "auto",
    decode_threads: DecodeThreadsOption = 0,
    summary_json: Annotated[Path | None, typer.Option(help="Write the end-of-run summary as JSON here.")] = None,
) -> None:
    """Classify live sources frame by frame, every light of every camera in one loop; Ctrl-C or
    SIGTERM stop it cleanly with a summary."""
    from edgecls.runtime.cameras import describe
    from edgecls.runtime.captures import Decoding, open_capture, threads_for
    from edgecls.runtime.live import run_cameras
    from edgecls.runtime.live.collect import CollectConfig
    from edgecls.runtime.model import load_classifier
    from edgecls.runtime.providers import usable_cpus
    from edgecls.runtime.sources import parse_source
    from edgecls.runtime.streams import FrameSource

    live_config = config_from(
        LiveConfig,
        locals(),
        roi=parse_roi(roi),
        http_allow_host=tuple(http_allow_host or ()),
        mqtt=_mqtt(mqtt, mqtt_ca, mqtt_prefix, config),
        collect=CollectConfig(collect, collect_max, collect_max_mb, min_score=min_score) if collect else None,
    )
    cameras = _cameras(config, source, roi, live_config)
    specs = [parse_source(camera.source) for camera in cameras]  # every path checked before anything opens
    decoding = Decoding(hwaccel, decode_threads)
    decoder_threads = threads_for(decoding, sum(spec.kind in ("file", "network") for spec in specs))
    opener = functools.partial(open_capture, decoding=decoding, threads=decoder_threads)
    # One inference thread a core's share: with as many cameras as cores the decoders need every core,
    # and onnxruntime's second thread would spin on one of them.
    classifier = load_classifier(model, provider, threads=threads or max(1, usable_cpus() // len(cameras)))
    info(f"{model}: {', '.join(classifier.info.classes)}; {classifier.provider_note}")
    if len(cameras) > 1 or len(cameras[0].lights) > 1:
        info(describe(cameras))
    try:
        with _stop_signals_interrupt() as stopped_by:
            sources = [
                FrameSource(
                    spec,
                    realtime,
                    open_timeout,
                    stall_timeout_s,
                    capture_factory=opener,
                    wait_for_source=not fail_fast,
                    classify_fps=rate,
                )
                for spec, rate in zip(specs, _rates(cameras, specs, classify_fps, realtime), strict=True)
            ]
            started = list(zip(cameras, _start_all(sources), strict=True))
    except KeyboardInterrupt:  # stopped while the sources were opening: still a summary (and its file)
        _report(LiveSummary(provider=classifier.provider, stopped_by=stopped_by[0]), record, summary_json)
        return
    summary = run_cameras(classifier, started, live_config, on_status=info)
    _report(summary, record, summary_json)


def _mqtt(url: str | None, ca: Path | None, prefix: str | None, config: Path | None):
    """The broker to publish to: --mqtt, else the config file's [mqtt] table (None: neither)."""
    import os

    from edgecls.runtime.cameras import read_table
    from edgecls.runtime.live.mqtt import mqtt_settings

    return mqtt_settings(url, ca, prefix, read_table(config, "mqtt") if config else None, os.environ)


def _rates(cameras: list, specs: list, asked: float | None, realtime: bool) -> list[float | None]:
    """Frames a second to classify, per camera: its own `classify_fps`, else as asked (0: every
    frame), else the default for a live source (or a file played in real time) and every frame of a
    file read in order."""
    rates: list[float | None] = []
    for camera, spec in zip(cameras, specs, strict=True):
        rate = camera.classify_fps if camera.classify_fps is not None else asked
        if rate is None:
            rates.append(DEFAULT_CLASSIFY_FPS if spec.live or realtime else None)
        else:
            rates.append(rate or None)
    return rates


def _start_all(sources: list) -> list:
    """Open every source at once (see FrameSource.start), then say how each is read; if one fails or
    the user stops the run meanwhile, every source is stopped again."""
    started: list = []
    try:
        for frames in sources:  # every source opens at once: 30 cameras start in seconds, not a minute
            frames.begin()
        for frames in sources:
            started.append(frames.wait_started())
            decoder = f", decoding with {frames.decoder}" if frames.decoder != "software" else ""
            info(f"reading {frames.spec} ({'live: newest frame only' if frames.live else 'every frame, in order'}{decoder})")
    except BaseException:
        for frames in sources:
            frames.stop(wait_s=0.5)
        raise
    return started


def _cameras(config: Path | None, source: list[str] | None, roi: str | None, live_config: LiveConfig) -> list:
    """The cameras and lights: from the `config` file, or one per `source`."""
    from edgecls.runtime.cameras import cameras_from_sources, read_cameras

    if config is None:
        return cameras_from_sources(source or ["0"], live_config.roi, live_config.light)
    if source or roi:
        raise StreamError("`config` lists the cameras: give it without `source` and `roi`.")
    from edgecls.runtime.cameras import read_table

    cameras = read_cameras(config)
    broker = read_table(config, "mqtt") or {}
    secrets = [camera.source for camera in cameras] + [str(broker.get("url", ""))]
    _warn_if_others_read_secrets(config, secrets, "password" in broker)
    return cameras


@contextlib.contextmanager
def _stop_signals_interrupt() -> Iterator[list[str]]:
    """While the sources open: SIGTERM interrupts as Ctrl-C does; yields [what stopped it]."""
    stopped_by = ["Ctrl-C"]

    def interrupt(*_: object) -> None:
        stopped_by[0] = "signal"
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield stopped_by
    finally:
        signal.signal(signal.SIGTERM, previous)


def _warn_if_others_read_secrets(config: Path, sources: list[str], password: bool = False) -> None:
    """A config file with a password in it should be readable by its owner only."""
    import shlex

    from edgecls.runtime.sources import mask_credentials

    holds = password or any(mask_credentials(source) != source for source in sources)
    if holds and config.stat().st_mode & 0o077:
        info(
            f"warning: {config} holds credentials and other users of this machine can read it: "
            f"chmod 600 {shlex.quote(str(config))}, or write them as ${{NAME}} and set NAME in the environment."
        )


def _report(summary: LiveSummary, record: Path | None, summary_json: Path | None) -> None:
    """The end of a run: the summary line (and file), what was recorded, each error, the exit code."""
    summary.errors = [shell_text(error) for error in summary.errors]  # as the user wrote them: flags
    info(summary.line())
    for camera in summary.cameras:
        lights = ", ".join(f"{name} {figures['final_state']}" for name, figures in camera["lights"].items())
        info(
            f"  {camera['camera']}: {camera['processed']} frames, {camera['fps']:.1f} fps, "
            f"reconnects {camera['reconnects']}; last states: {lights}"
        )
    if summary_json:
        from edgecls.core.files import write_text_atomic

        write_text_atomic(summary_json, json.dumps(summary.to_dict(), indent=2) + "\n")
    if summary.skipped:
        info(
            f"stepped over {summary.skipped} unreadable frame(s): broken parts of a stream, or a corrupt stretch of a file"
        )
    if record and record.exists() and not any(error.startswith("--record") for error in summary.errors):
        info(f"recording: {record}")
    for error in summary.errors:
        print(f"error: {printable(error)}", file=sys.stderr)
    if summary.stopped_by == "Ctrl-C":
        raise typer.Exit(130)
    if summary.errors:
        raise typer.Exit(1)
