"""Live classification of cameras, video files and streams: `run_cameras` (many cameras, many lights)
and `run_live` (one camera, one light), their configuration, summary and status.

The parts: `config` (LiveConfig), `loop` (the one loop), `light` (one light's crop, smoothing,
flashing and events), `watch` (a source lost, back or hung), `draw`, `status` (the public
snapshot), `summary`, and the outputs, each a sink in `sinks/` (JSON Lines, events, recording,
window, HTTP with `http`, `page.html` and `metrics`, webhook with `webhook`).
"""

from edgecls.runtime.live.sinks.record import verify_recording

from .config import LiveConfig
from .light import check_roi, crop_roi
from .loop import run_cameras, run_live
from .status import CameraStatus, LightStatus, Status
from .summary import LiveSummary

__all__ = [
    "CameraStatus",
    "LightStatus",
    "LiveConfig",
    "LiveSummary",
    "Status",
    "check_roi",
    "crop_roi",
    "run_cameras",
    "run_live",
    "verify_recording",
]
