"""A real RTSP camera on loopback for the tests: GStreamer's RTSP server (Debian's
gir1.2-gst-rtsp-server-1.0, run with Debian's python3 and its python3-gi), H.264 at 15 fps.

    /usr/bin/python3 tests/rtsp_camera.py PORT [SECONDS [FRAMES_DIR FPS]]

Serves rtsp://127.0.0.1:PORT/cam, a moving test pattern whose colour is plain red, with a frame
counter burnt in (so no two frames are the same); with FRAMES_DIR, the JPEG files 00000.jpg,
00001.jpg ... in it, looped at FPS (the benchmarks' camera: encoded once for every client). Reads commands on standard input, one a line:
`freeze` (the connection stays open, no frame is sent: a frozen camera), `resume`, `quit`. Prints
`ready` once it listens. It stops on its own after SECONDS (default 120), so a test that dies never
leaves it behind.
"""

from __future__ import annotations

import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true pattern=solid-color foreground-color=0xffff0000 "
    "! video/x-raw,width=320,height=240,framerate=15/1 ! timeoverlay ! valve name=gate drop=false "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


FRAMES = (
    "( multifilesrc location={folder}/%05d.jpg loop=true caps=image/jpeg,framerate={fps}/1 ! jpegdec ! videoconvert "
    "! video/x-raw,format=I420 ! valve name=gate drop=false "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} ! rtph264pay name=pay0 pt=96 config-interval=1 )"
)


def main() -> None:
    port, seconds = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 120.0
    pipeline = FRAMES.format(folder=sys.argv[3], fps=int(sys.argv[4])) if len(sys.argv) > 4 else PIPELINE
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(pipeline)
    factory.set_shared(True)
    gates = []
    frozen = [False]  # a reconnecting client gets a new pipeline: it must be frozen too

    def configure(_factory, media) -> None:
        gate = media.get_element().get_by_name("gate")
        gate.set_property("drop", frozen[0])
        gates.append(gate)

    factory.connect("media-configure", configure)
    server.get_mount_points().add_factory("/cam", factory)
    loop = GLib.MainLoop()
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")

    def command(line: str) -> bool:
        word = line.strip()
        if word in ("freeze", "resume"):
            frozen[0] = word == "freeze"
            for gate in gates:
                gate.set_property("drop", word == "freeze")
        elif word == "quit":
            loop.quit()
        return False

    def read_commands() -> None:
        for line in sys.stdin:
            GLib.idle_add(command, line)
        GLib.idle_add(command, "quit")  # standard input closed: the test is gone

    threading.Thread(target=read_commands, daemon=True).start()
    GLib.timeout_add(int(seconds * 1000), loop.quit)
    print("ready", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
