"""Images of one traffic light each, framed as a camera gives them (`render_traffic_light`), and
class folders of them (`write_dataset`)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edgecls.core.files import atomic_path
from edgecls.core.progress import track

from .camera import _camera, _camera_settings
from .common import FRAMING_WEIGHTS, FRAMINGS, MAX_NATIVE, STATES, _log_uniform
from .light import LightLayers, render_light
from .scene import _scene


def _place(layers: LightLayers, matrix: np.ndarray, size: tuple[int, int]) -> LightLayers:
    """The light's layers warped by `matrix` (2x3) onto a canvas of `size` (width, height)."""
    warp = lambda layer: cv2.warpAffine(layer, matrix, size, flags=cv2.INTER_LINEAR)  # noqa: E731
    return LightLayers(warp(layers.body), warp(layers.alpha), warp(layers.emission), layers.box)


def _compose(scene: np.ndarray, placed: LightLayers) -> np.ndarray:
    """A placed light over the scene (both linear)."""
    alpha = placed.alpha[..., None]
    return scene * (1 - alpha) + placed.body * alpha + placed.emission


def _placement(rng: np.random.Generator, framing: str, layers: LightLayers) -> tuple[int, int, np.ndarray]:
    """The crop around the housing at the light's render scale: (width, height, 2x3 matrix that
    places the light canvas in it)."""
    x0, y0, x1, y1 = layers.box
    box_w, box_h = x1 - x0, y1 - y0
    if framing == "tight":  # as a detector's box or a tight --roi: a little sky, pole or wall around
        left, right = rng.uniform(-0.05, 0.5, 2) * box_w
        top, bottom = rng.uniform(-0.03, 0.3, 2) * box_h
        width, height = box_w + left + right, box_h + top + bottom
    else:  # the housing's share of the crop's long side
        fill = {"loose": rng.uniform(0.45, 0.8), "street": rng.uniform(0.3, 0.5), "frame": _log_uniform(rng, 0.2, 0.4)}[framing]
        long_side = max(box_w, box_h) / fill
        aspect = 4 / 3 if framing == "frame" else rng.uniform(0.75, 1.35)
        width, height = long_side * aspect, long_side / aspect
        width, height = max(width, box_w * 1.05), max(height, box_h * 1.05)
        left = rng.uniform(0.02, 0.98) * (width - box_w)
        top = rng.uniform(0.02, 0.98) * (height - box_h)
    angle = rng.normal(0, 3.0)
    matrix = cv2.getRotationMatrix2D(((x0 + x1) / 2, (y0 + y1) / 2), angle, 1.0)
    matrix[:, 2] += (left - x0, top - y0)
    return max(4, int(round(width))), max(4, int(round(height))), matrix


def render_traffic_light(
    rng: np.random.Generator, state: str, size: int | None = None, framing: str | None = None
) -> np.ndarray:
    """One RGB uint8 image of a traffic light showing `state`, framed as a camera would give it:
    at its own resolution (often a few dozen pixels wide), or stretched to `size` x `size`.
    `framing` (one of FRAMINGS) is drawn with FRAMING_WEIGHTS unless given."""
    if framing is None:
        framing = str(rng.choice(FRAMINGS, p=FRAMING_WEIGHTS))
    elif framing not in FRAMINGS:
        raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
    layers = render_light(rng, state, radius=10.0)
    width, height, matrix = _placement(rng, framing, layers)
    x0, y0, x1, y1 = layers.box
    housing_width = _log_uniform(rng, 10, 80) if framing == "tight" else _log_uniform(rng, 8, 60)
    # Render at the camera's resolution: the light's canvas shrinks to it (area-averaged, as a
    # sensor integrates), the scene is drawn at it. Larger than MAX_NATIVE adds nothing at model size.
    scale = min(housing_width / min(x1 - x0, y1 - y0), MAX_NATIVE / max(width, height))
    native = (max(4, int(round(width * scale))), max(4, int(round(height * scale))))
    body, alpha, emission = (
        np.asarray(cv2.resize(layer, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
        for layer in (layers.body, layers.alpha, layers.emission)
    )
    light = LightLayers(body, alpha, emission, box=layers.box)
    matrix = matrix.copy()
    matrix[:, 2] *= scale
    busy = {"tight": 0.1, "loose": 0.4, "street": 0.9, "frame": 1.0}[framing]
    scene = _scene(rng, native[1], native[0], busy, scale=(x1 - x0) * scale)
    linear = _compose(scene, _place(light, matrix, native))
    image = _camera(rng, linear, _camera_settings(rng))
    if size is not None:
        from edgecls.runtime.images import resize_image

        image = resize_image(image, (size, size))
    return image


def _write_images(folder: Path, state: str, indices: range, seed: int, size: int | None) -> int:
    """Render and write images `indices` of one class; each image has its own seed, so the result does
    not depend on how the work is split between processes."""
    for index in indices:
        rng = np.random.default_rng([seed, STATES.index(state), index])
        image = render_traffic_light(rng, state, size)
        with atomic_path(folder / f"{state}_{index:05d}.png") as temporary:
            cv2.imwrite(str(temporary), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return len(indices)


def write_dataset(
    out: Path, per_class: int = 300, seed: int = 0, size: int | None = None, workers: int | None = None
) -> dict[str, int]:
    """red/, yellow/, green/ and off/ folders of PNG images under `out`; returns the count per class.
    `size` None keeps each image at the size its framing gives it. Renders on `workers` processes
    (default: one per usable CPU)."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    chunk = 50
    jobs = []
    for state in STATES:
        (out / state).mkdir(parents=True, exist_ok=True)
        jobs += [
            (out / state, state, range(i, min(i + chunk, per_class)), seed, size) for i in range(0, per_class, chunk)
        ]
    with track(per_class * len(STATES), "rendering traffic lights") as progress:
        if workers <= 1:
            for job in jobs:
                progress.update(_write_images(*job))
        else:
            # spawn, not fork: the caller may hold TensorFlow's threads, which a fork can deadlock
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                for done in pool.map(_write_images, *zip(*jobs, strict=True)):
                    progress.update(done)
    return {state: per_class for state in STATES}
