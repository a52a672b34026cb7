"""What a live run did: the summary line, `--summary-json` and the return value of `run_cameras`."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edgecls.runtime.smoothing import UNKNOWN


@dataclass
class LiveSummary:
    frames_read: int = 0
    processed: int = 0
    dropped: int = 0
    reconnects: int = 0
    state_changes: int = 0
    seconds: float = 0.0
    connected_seconds: float = 0.0  # of `seconds`, how long a live source was connected (a file: all)
    frozen: int = 0  # times a live source froze (a read waited out its timeout): declared lost, reopened
    final_state: str = UNKNOWN
    provider: str = ""
    stopped_by: str = "end of source"
    not_finite: int = 0  # frames whose model output was NaN or infinite
    events_sent: int = 0  # to the webhook
    events_failed: int = 0  # to the webhook, after every retry (or still queued at the stop)
    skipped: int = 0  # frames of a file stepped over (a corrupt stretch)
    not_decoded: int = 0  # frames read but not decoded: the camera sends more than its classify_fps
    inferences: int = 0  # light crops the model classified, over every light
    gated: int = 0  # light crops the change gate found unchanged: the last output reused, the model not run
    errors: list[str] = field(default_factory=list)  # outputs that failed (a full disk ...): non-zero exit
    cameras: list[dict] = field(default_factory=list)  # several lights: each camera's figures and lights
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=10_000), repr=False)  # the newest, bounded

    @property
    def fps(self) -> float:
        """Frames processed per second of time connected: an outage does not dilute it."""
        seconds = min(self.connected_seconds, self.seconds) or self.seconds
        return self.processed / seconds if seconds > 0 else 0.0

    def to_dict(self) -> dict:
        latency = np.percentile(self.latencies_ms, [50, 99]).tolist() if self.latencies_ms else [0.0, 0.0]
        return {
            "frames_read": self.frames_read,
            "processed": self.processed,
            "dropped": self.dropped,
            "reconnects": self.reconnects,
            "state_changes": self.state_changes,
            "seconds": round(self.seconds, 3),
            "connected_seconds": round(self.connected_seconds, 3),
            "fps": round(self.fps, 2),
            "frozen": self.frozen,
            "latency_ms_p50": round(latency[0], 2),
            "latency_ms_p99": round(latency[1], 2),
            "final_state": self.final_state,
            "provider": self.provider,
            "stopped_by": self.stopped_by,
            "not_finite": self.not_finite,
            "events_sent": self.events_sent,
            "events_failed": self.events_failed,
            "skipped": self.skipped,
            "not_decoded": self.not_decoded,
            "inferences": self.inferences,
            "gated": self.gated,
            "errors": self.errors,
            **({"cameras": self.cameras} if self.cameras else {}),
        }

    def line(self) -> str:
        d = self.to_dict()
        return (
            f"frames read {d['frames_read']}, processed {d['processed']}, dropped {d['dropped']}, "
            f"{d['fps']:.1f} fps, latency p50 {d['latency_ms_p50']:.1f} ms, reconnects {d['reconnects']}, "
            f"state changes {d['state_changes']}, stopped by {d['stopped_by']}"
            + (f"; {d['gated']} of {d['gated'] + d['inferences']} classifications skipped unchanged" if d["gated"] else "")
        )
