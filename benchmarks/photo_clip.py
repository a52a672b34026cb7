"""A test clip the demo's model has never seen the like of: traffic lights drawn by a different
renderer (square back-plates, LED-dot or flat lamps, no glow, other colours) composited over real
photographs, with its ground truth. Used to check that the built-in data generalises.

    python benchmarks/photo_clip.py OUT.avi --photos DIR [--seconds 12]

Photos: any folder of JPEG/PNG photographs; by default the photographs that ship with matplotlib.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import cv2
import numpy as np

PALETTES = {
    "red": [(200, 10, 10), (255, 40, 0), (230, 0, 60)],
    "yellow": [(255, 140, 0), (255, 190, 20), (240, 160, 40)],
    "green": [(0, 200, 80), (40, 255, 120), (0, 170, 140)],
}
ORDER = ("red", "yellow", "green")


def default_photos() -> list[Path]:
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "sample_data"
    return sorted(folder.glob("*.jpg"))


def draw_light(state: str, side: int, style: dict) -> np.ndarray:
    """An RGB tile (side x side) with a light in the other renderer's style on a transparent-free plate."""
    tile = np.zeros((side, side, 3), np.uint8)
    tile[:] = style["surround"]
    vertical = style["vertical"]
    lamp = side // 5
    plate_long, plate_short = lamp * 3 + lamp // 2 * 4, lamp + lamp // 2 * 2
    width, height = (plate_short, plate_long) if vertical else (plate_long, plate_short)
    x0, y0 = (side - width) // 2, (side - height) // 2
    cv2.rectangle(tile, (x0 - 3, y0 - 3), (x0 + width + 3, y0 + height + 3), style["border"], -1)
    cv2.rectangle(tile, (x0, y0), (x0 + width, y0 + height), style["plate"], -1)
    for index, name in enumerate(ORDER):
        offset = lamp // 2 + index * (lamp + lamp // 2) + lamp // 2
        center = (x0 + width // 2, y0 + offset) if vertical else (x0 + offset, y0 + height // 2)
        color = (
            PALETTES[name][style["palette"]]
            if name == state
            else tuple(int(c * 0.18) for c in PALETTES[name][style["palette"]])
        )
        if style["lamp"] == "square":
            half = lamp // 2
            cv2.rectangle(tile, (center[0] - half, center[1] - half), (center[0] + half, center[1] + half), color, -1)
        elif style["lamp"] == "leds":
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    if dx * dx + dy * dy <= 5:
                        point = (center[0] + dx * lamp // 5, center[1] + dy * lamp // 5)
                        cv2.circle(tile, point, max(1, lamp // 12), color, -1)
        else:
            cv2.circle(tile, center, lamp // 2, color, -1)
            cv2.circle(tile, center, lamp // 2, (0, 0, 0), 1)
    return tile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--photos", type=Path, help="folder of photographs (default: matplotlib's sample photos)")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    photos = (
        sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".jpg", ".png"))
        if args.photos
        else default_photos()
    )
    if not photos:
        raise SystemExit("no photographs found")
    width, height = 640, 480
    num_frames = int(args.seconds * args.fps)
    segment = max(1, num_frames // len(photos))
    states, frames_written = [], 0
    writer = cv2.VideoWriter(str(args.out), cv2.VideoWriter_fourcc(*"MJPG"), args.fps, (width, height))
    side = 170
    roi = (400, 120, side, side)
    cycle = ["red"] * 60 + ["green"] * 60 + ["yellow"] * 25
    for index in range(num_frames):
        photo_index = min(index // segment, len(photos) - 1)
        if index % segment == 0:
            photo = cv2.cvtColor(cv2.imread(str(photos[photo_index])), cv2.COLOR_BGR2RGB)
            photo = cv2.resize(photo, (width + 120, height + 90))
            style = {
                "vertical": bool(rng.random() < 0.7),
                "lamp": str(rng.choice(["circle", "square", "leds"])),
                "palette": int(rng.integers(0, 3)),
                "plate": tuple(int(v) for v in rng.integers(0, 50, 3)),
                "border": tuple(
                    int(v) for v in (rng.integers(200, 256, 3) if rng.random() < 0.5 else rng.integers(0, 40, 3))
                ),
            }
        dx = int(60 + 50 * math.sin(index / args.fps * 0.5))
        dy = int(45 + 35 * math.cos(index / args.fps * 0.4))
        frame = photo[dy : dy + height, dx : dx + width].copy()
        x, y, w, h = roi
        style["surround"] = tuple(int(v) for v in frame[y : y + h, x : x + w].reshape(-1, 3).mean(axis=0))
        state = cycle[(index + photo_index * 37) % len(cycle)]
        tile = draw_light(state, side, style)
        # Composite only the plate over the photograph: the photo stays visible around the light.
        mask = np.any(tile != np.array(style["surround"], np.uint8), axis=2)
        region = frame[y : y + h, x : x + w]
        region[mask] = tile[mask]
        frame = np.clip(frame.astype(np.float32) * rng.uniform(0.9, 1.1) + rng.normal(0, 3, frame.shape), 0, 255)
        writer.write(cv2.cvtColor(frame.astype(np.uint8), cv2.COLOR_RGB2BGR))
        states.append(state)
        frames_written += 1
    writer.release()
    truth = {"fps": args.fps, "roi": list(roi), "states": states, "photos": [p.name for p in photos]}
    Path(str(args.out) + ".truth.json").write_text(json.dumps(truth) + "\n")
    print(f"wrote {frames_written} frames over {len(photos)} photographs to {args.out}")


if __name__ == "__main__":
    main()
