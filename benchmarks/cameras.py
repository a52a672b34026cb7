"""How many 30 fps cameras one box carries: decode-only loops against serve-camera, in one run.

    python benchmarks/cameras.py MODEL.onnx [--scene steady|flashing] [--protocols mjpeg,rtsp] [--fps 30]
        [--seconds 6] [--json OUT]

Cameras on loopback play a rendered 640x480 traffic-light clip at `--fps` and never wait for a slow
reader (it misses frames). The scene: `steady` (default), a day street whose light changes a few
times a minute (phases of 5-20 s, looped every minute), what a junction's camera shows; `flashing`,
a night street with a flashing yellow light, looped every 4 s: the worst case for the change gate.
Protocols: MJPEG over HTTP (edgecls' own viewer server, pre-encoded JPEGs, in
worker processes of 8 cameras each) and RTSP H.264 (GStreamer's RTSP server, one shared encoder,
every camera one connection to it). For each protocol and reader, the number of cameras N is
raised (doubling) and then bisected to the largest N the reader carries:

Readers (`--readers`, keys imdecode, ffmpeg, serve, serve5):

- `imdecode loop` (MJPEG): one thread per camera reading the parts and decoding every JPEG at full
  size with cv2.imdecode, what a plain OpenCV app does; carried: every camera decoded >= 90% of fps.
- `FFmpeg loop`: one thread per camera calling cv2.VideoCapture(url).read(); the same rule.
- `serve-camera, every frame` (`--classify-fps 0`): one light per camera; every camera classified
  >= 90% of fps.
- `serve-camera, --classify-fps 5` (its default for cameras): every light classified >= 4.5 a second.

Each trial waits until every camera delivers, then measures `--seconds`: per-camera rates (the
loops count themselves; serve-camera's are read from its /metrics before and after), the reader's
CPU time per second of wall time (from /proc, the cameras' own processes not included), and
serve-camera's latency p50/p99 from capture to classified state (its summary: the newest 10,000).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the loopback cameras the tests use

CARRIED_SHARE = 0.9  # a camera is carried at >= 90% of its frame rate (27 of 30)
LIGHT_RATE = 4.5  # with --classify-fps 5: every light classified at least this often


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- cameras --------------------------------------------------------------------------------------------
def _serve_mjpeg(frames: list[bytes], count: int, fps: float, urls, stop) -> None:
    from helpers.loopback import Camera

    cameras = [Camera(frames, fps, max_clients=4) for _ in range(count)]
    for camera in cameras:
        urls.put(camera.url)
    stop.wait()
    for camera in cameras:
        camera.close()


@contextlib.contextmanager
def mjpeg_cameras(frames: list[bytes], count: int, fps: float):
    context = multiprocessing.get_context("fork")
    urls, stop = context.Queue(), context.Event()
    groups = [min(8, count - start) for start in range(0, count, 8)]
    workers = [context.Process(target=_serve_mjpeg, args=(frames, size, fps, urls, stop), daemon=True) for size in groups]
    for worker in workers:
        worker.start()
    try:
        yield [urls.get(timeout=30) for _ in range(count)]
    finally:
        stop.set()
        for worker in workers:
            worker.join(10)


@contextlib.contextmanager
def rtsp_camera(folder: Path, fps: float, count: int):
    from helpers.loopback import free_port

    port = free_port()
    server = subprocess.Popen(
        ["/usr/bin/python3", str(ROOT / "tests" / "rtsp_camera.py"), str(port), "3600", str(folder), str(int(fps))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready", "the RTSP server did not start"
        yield [f"rtsp://127.0.0.1:{port}/cam"] * count
    finally:
        server.terminate()
        server.wait(10)


# -- readers --------------------------------------------------------------------------------------------
def reader_main(kind: str, urls: list[str], fps: float, seconds: float) -> None:
    """In its own process: one thread per URL decoding every frame; prints JSON per-camera rates."""
    import cv2

    from edgecls.runtime.mjpeg import MjpegCapture

    counts = [0] * len(urls)
    stop = threading.Event()

    def read(index: int, url: str) -> None:
        while not stop.is_set():
            capture = MjpegCapture(url, 5, 5) if kind == "imdecode" else cv2.VideoCapture(url, cv2.CAP_FFMPEG)
            while not stop.is_set():
                ok, image = capture.read()
                if not ok or image is None:
                    break
                counts[index] += 1
            capture.release()

    for index, url in enumerate(urls):
        threading.Thread(target=read, args=(index, url), daemon=True).start()
    deadline = time.perf_counter() + 30
    while min(counts) < fps and time.perf_counter() < deadline:  # every camera delivers
        time.sleep(0.2)
    time.sleep(1.0)
    before, cpu, wall = list(counts), time.process_time(), time.perf_counter()
    time.sleep(seconds)
    after, cpu, wall = list(counts), time.process_time() - cpu, time.perf_counter() - wall
    stop.set()
    rates = [(b - a) / wall for a, b in zip(before, after, strict=True)]
    print(json.dumps({"rates": rates, "cpu_per_s": cpu / wall}), flush=True)
    os._exit(0)  # threads blocked in a read are not waited for


def run_loop(kind: str, urls: list[str], fps: float, seconds: float) -> dict:
    command = [sys.executable, __file__, "--reader", kind, "--fps", str(fps), "--seconds", str(seconds), *urls]
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 90)
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    return {"rates": measured["rates"], "classified": measured["rates"], "cpu_per_s": measured["cpu_per_s"]}


def scrape(port: int) -> dict[str, dict[str, float]]:
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    figures: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if "camera" in sample.labels and not sample.name.endswith(("_bucket", "_created")):
                figures.setdefault(sample.name, {})[sample.labels["camera"]] = sample.value
    return figures


def run_serve_camera(
    model: Path, urls: list[str], roi: list[int], seconds: float, classify_fps: float, extra: tuple[str, ...] = ()
) -> dict:
    from helpers.loopback import free_port

    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        config, summary_path = Path(folder) / "cameras.toml", Path(folder) / "summary.json"
        config.write_text(
            "".join(
                f'[[camera]]\nname = "cam{index}"\nsource = "{url}"\n[[camera.light]]\nname = "cam{index}-light"\nroi = {roi}\n'
                for index, url in enumerate(urls)
            )
        )
        command = [sys.executable, "-m", "edgecls.cli", "serve-camera", str(model), "--config", str(config)]
        command += ["--http", f"127.0.0.1:{port}", "--summary-json", str(summary_path), "--classify-fps", f"{classify_fps:g}"]
        command += list(extra)
        log = Path(folder) / "serve-camera.log"
        process = subprocess.Popen(command, stderr=log.open("w"), stdout=subprocess.DEVNULL)
        try:
            deadline, figures = time.perf_counter() + 240, {}
            while time.perf_counter() < deadline:  # every camera connected and classified
                time.sleep(0.5)
                if process.poll() is not None:
                    raise RuntimeError(f"serve-camera exited: {log.read_text()[-2000:]}")
                with contextlib.suppress(OSError):
                    figures = scrape(port)
                processed = figures.get("edgecls_frames_processed_total", {})
                if len(processed) == len(urls) and min(processed.values()) > 0:
                    break
            else:
                raise RuntimeError("serve-camera did not classify every camera within 240 s")
            time.sleep(2.0)
            before, cpu, wall = scrape(port), cpu_seconds(process.pid), time.perf_counter()
            time.sleep(seconds)
            after, cpu, wall = scrape(port), cpu_seconds(process.pid) - cpu, time.perf_counter() - wall
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)
        summary = json.loads(summary_path.read_text())

    def rate(name: str) -> list[float]:
        return [(after[name][camera] - before[name][camera]) / wall for camera in sorted(after[name])]

    inferences = sum(rate("edgecls_light_inferences_total"))
    return {
        "rates": rate("edgecls_frames_read_total"),
        "classified": rate("edgecls_frames_processed_total"),
        "model_runs_per_s": inferences,
        "cpu_per_s": cpu / wall,
        "latency_ms_p50": summary["latency_ms_p50"],
        "latency_ms_p99": summary["latency_ms_p99"],
    }


# -- the search -----------------------------------------------------------------------------------------
READERS = {  # key: (what the table calls it, the protocols it reads)
    "imdecode": ("imdecode loop", ("mjpeg",)),
    "ffmpeg": ("FFmpeg loop", ("mjpeg", "rtsp")),
    "serve": ("serve-camera, every frame", ("mjpeg", "rtsp")),
    "serve5": ("serve-camera, --classify-fps 5", ("mjpeg", "rtsp")),
}


def trial(args, protocol: str, reader: str, count: int, frames: list[bytes], folder: Path) -> dict:
    cameras = mjpeg_cameras(frames, count, args.fps) if protocol == "mjpeg" else rtsp_camera(folder, args.fps, count)
    with cameras as urls:
        if reader in ("imdecode", "ffmpeg"):
            row = run_loop(reader, urls, args.fps, args.seconds)
        else:
            try:
                row = run_serve_camera(
                    args.model, urls, args.roi, args.seconds, 5.0 if reader == "serve5" else 0.0, tuple(args.serve_args.split())
                )
            except (RuntimeError, OSError) as error:  # not carried: it never got going
                print(f"  {protocol} {READERS[reader][0]} {count} cameras: {error}", flush=True)
                row = {"rates": [0.0], "classified": [0.0], "cpu_per_s": 0.0, "failed": str(error)}
    needed = LIGHT_RATE if reader == "serve5" else CARRIED_SHARE * args.fps
    row.update(cameras=count, carried=min(row["classified"]) >= needed, needed=needed)
    row["cpu_per_camera"] = row["cpu_per_s"] / count
    print(
        f"  {protocol:<6}{READERS[reader][0]:<32}{count:>4} cameras: lowest {min(row['classified']):5.1f}/s (needs {needed:g}), "
        f"received lowest {min(row['rates']):5.1f}/s, CPU {row['cpu_per_s']:.2f} s/s"
        + (f", latency p50 {row['latency_ms_p50']:.0f} ms" if "latency_ms_p50" in row else "")
        + (" carried" if row["carried"] else ""),
        flush=True,
    )
    return row


def largest(args, protocol: str, reader: str, frames: list[bytes], folder: Path) -> tuple[dict | None, list[dict]]:
    """The largest count carried: doubling from `--start`, then bisecting to `--resolution`."""
    tried: dict[int, dict] = {}
    good, bad = 0, None
    count = args.start
    while count <= args.max_cameras:
        tried[count] = trial(args, protocol, reader, count, frames, folder)
        if not tried[count]["carried"]:
            bad = count
            break
        good, count = count, count * 2
    while bad is not None and bad - good > args.resolution:
        middle = (good + bad) // 2
        tried[middle] = trial(args, protocol, reader, middle, frames, folder)
        good, bad = (middle, bad) if tried[middle]["carried"] else (good, middle)
    return tried.get(good), [tried[count] for count in sorted(tried)]


SCENES = {
    # seconds rendered, seed, night, times each frame is shown
    "flashing": (4.0, 5, None, 1),  # a night street: flashing yellow, then red, looped every 4 s (the gate saves little)
    "steady": (12.0, 3, False, 5),  # a day street, every frame shown 5 times: phases of 5-20 s, a few changes a minute
}


def render_frames(folder: Path, fps: float, scene: str = "flashing") -> tuple[list[bytes], list[int]]:
    """The cameras' frames, each JPEG-encoded once (and written to `folder` for the RTSP server),
    and the light's ROI."""
    import cv2

    from edgecls.datasets.traffic_lights.clip import write_clip

    seconds, seed, night, repeat = SCENES[scene]
    clip = folder / "clip.avi"
    truth = write_clip(clip, seconds=seconds, fps=fps, seed=seed, night=night)
    capture, frames = cv2.VideoCapture(str(clip)), []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames += [cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()] * repeat
    for index, frame in enumerate(frames):
        (folder / f"{index:05d}.jpg").write_bytes(frame)
    return frames, list(truth.roi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?")  # a reader process: its first URL
    parser.add_argument("urls", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--reader", choices=("imdecode", "ffmpeg"), help=argparse.SUPPRESS)
    parser.add_argument("--protocols", default="mjpeg,rtsp")
    parser.add_argument("--readers", default=",".join(READERS), help="which of: " + ", ".join(READERS))
    parser.add_argument("--scene", choices=tuple(SCENES), default="steady")
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--start", type=int, default=4)
    parser.add_argument("--max-cameras", type=int, default=256)
    parser.add_argument("--resolution", type=int, default=2)
    parser.add_argument("--serve-args", default="", help="more serve-camera options, e.g. '--threads 1'")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.reader:  # a reader process: the first positional is a URL too
        reader_main(args.reader, [args.model, *args.urls], args.fps, args.seconds)
        return
    args.model = Path(args.model)
    rows = []
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        frames, args.roi = render_frames(folder, args.fps, args.scene)
        for protocol in args.protocols.split(","):
            for reader in (r.strip() for r in args.readers.split(",") if protocol in READERS[r.strip()][1]):
                best, tried = largest(args, protocol, reader, frames, folder)
                capped = best is not None and best["cameras"] == max(row["cameras"] for row in tried) and best["carried"]
                rows.append({"protocol": protocol, "reader": READERS[reader][0], "carried": best, "tried": tried, "capped": capped})
    print(f"\n{'protocol':<9}{'reader':<34}{'cameras':>8}{'CPU/camera':>11}{'lowest/s':>9}{'p50 ms':>8}{'p99 ms':>8}")
    for row in rows:
        best = row["carried"] or {}
        print(
            f"{row['protocol']:<9}{row['reader']:<34}{('>=' if row['capped'] else '') + str(best.get('cameras', 0)):>8}{best.get('cpu_per_camera', 0):>11.3f}"
            f"{min(best.get('classified', [0])):>9.1f}{best.get('latency_ms_p50', float('nan')):>8.1f}"
            f"{best.get('latency_ms_p99', float('nan')):>8.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
