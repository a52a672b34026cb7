"""A picture gallery of the built-in traffic-light data: one row per class, each image stretched to
a square as the runtime feeds it to the model (the caption row gives each crop's own size).

    python benchmarks/gallery.py benchmarks/results/gallery.png [--per-row 12] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from edgecls.datasets.traffic_lights import STATES, render_traffic_light
from edgecls.runtime.images import resize_image

TILE = 96
LABEL = 84


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--per-row", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    for state in STATES:
        label = np.full((TILE, LABEL, 3), 255, np.uint8)
        cv2.putText(label, state, (6, TILE // 2 + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
        tiles = [label]
        for _ in range(args.per_row):
            image = render_traffic_light(rng, state)
            tile = resize_image(image, (TILE, TILE))
            caption = f"{image.shape[1]}x{image.shape[0]}"
            cv2.rectangle(tile, (0, TILE - 14), (8 * len(caption) + 4, TILE), (0, 0, 0), -1)
            cv2.putText(tile, caption, (3, TILE - 4), cv2.FONT_HERSHEY_PLAIN, 0.8, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(np.pad(tile, ((1, 1), (1, 1), (0, 0)), constant_values=255))
        tiles[0] = np.pad(tiles[0], ((1, 1), (1, 1), (0, 0)), constant_values=255)
        rows.append(np.concatenate(tiles, axis=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(np.concatenate(rows, axis=0), cv2.COLOR_RGB2BGR))
    print(args.out)


if __name__ == "__main__":
    main()
