"""An independent yardstick for the built-in traffic-light model: lights drawn by a second renderer
that shares no code and no lamp model with the built-in one, over real photographs.

    python benchmarks/independent.py crops OUT_DIR [--per-class 200]     # red/ yellow/ green/ off/
    python benchmarks/independent.py clip OUT.avi [--seconds 20]           # + OUT.avi.truth.json
    python benchmarks/independent.py score MODEL.onnx OUT_DIR OUT.avi      # per-class recall of both
    python benchmarks/independent.py yardstick MODEL.onnx [--out DIR]       # crops and clips made if missing, scored

Where the built-in renderer simulates light (an HDR emitter clipped by the sensor), this one paints
in display colours with Pillow: a lit lamp is a radial gradient from a white core to a colour picked
from a fixed list of LED colours, with a soft glow; housings are Pillow polygons with tunnel or cap
visors, louvres or none; unlit lenses are flat dark discs with a highlight arc; the camera is
Pillow's resampling, blur, colour and contrast enhancers and JPEG encoder. Backgrounds are cut from
real photographs (none of them of traffic lights): by default those that ship inside scikit-image,
scikit-learn and matplotlib (`pip install -e '.[bench]'`), or `--photos DIR`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from edgecls.datasets.clips import ClipTruth

STATES = ("red", "yellow", "green", "off")
ORDER = ("red", "yellow", "green")
# Display colours of lit signals, from deep to pale; the core is white whatever the colour. Photographs
# of lit lamps are mostly pale: a white lamp with a faint pink, amber or cyan-blue tint.
PALETTE = {
    "red": [(255, 30, 20), (255, 60, 40), (235, 20, 50), (255, 85, 70), (220, 0, 0), (255, 110, 120)],
    "yellow": [(255, 170, 0), (255, 190, 40), (250, 140, 10), (255, 205, 90), (240, 160, 60)],
    "green": [(0, 230, 170), (60, 255, 200), (0, 200, 140), (90, 255, 235), (0, 215, 110), (40, 240, 255), (0, 255, 0)],
}
PALE = {
    "red": [(255, 190, 205), (255, 170, 190), (250, 215, 225), (255, 200, 190)],
    "yellow": [(255, 230, 180), (255, 240, 200), (255, 215, 160), (250, 235, 215)],
    "green": [(190, 255, 245), (200, 235, 255), (215, 245, 255), (170, 240, 250)],
}
HOUSINGS = [(20, 20, 20), (35, 35, 38), (60, 60, 60), (10, 12, 10), (200, 160, 20), (30, 55, 35), (90, 90, 95)]
LIGHT_HOUSINGS = [(150, 152, 155), (185, 185, 190), (205, 205, 200), (35, 60, 150)]  # silver, light grey, blue


def photographs(folder: Path | None) -> list[Image.Image]:
    """Real photographs to cut backgrounds from."""
    paths: list[Path] = []
    if folder:
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    else:
        for module, sub, names in (
            (
                "skimage",
                "data",
                (
                    "astronaut.png",
                    "brick.png",
                    "chelsea.png",
                    "coffee.png",
                    "grass.png",
                    "motorcycle_left.png",
                    "rocket.jpg",
                    "gravel.png",
                    "color.png",
                ),
            ),
            ("sklearn", "datasets/images", ("china.jpg", "flower.jpg")),
            ("matplotlib", "mpl-data/sample_data", ("grace_hopper.jpg",)),
        ):
            try:
                root = Path(__import__(module).__file__).parent / sub
            except ImportError:
                continue
            paths += [root / name for name in names if (root / name).exists()]
    if not paths:
        sys.exit("no photographs: pip install -e '.[bench]' (scikit-image, scikit-learn) or pass --photos DIR")
    return [Image.open(path).convert("RGB") for path in paths]


def lamp_tile(color: tuple[int, int, int], diameter: int, rng: np.random.Generator, arrow: int | None) -> Image.Image:
    """A lit lamp: white core fading to `color` at the rim, RGBA, with a glow around it; an arrow
    (pointing left, up or right: `arrow` 0-2) instead of a disc when given."""
    size = diameter * 2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.hypot(xx - size / 2 + 0.5, yy - size / 2 + 0.5) / (diameter / 2)
    if arrow is not None:  # the lit shape is an arrow; the glow follows its distance
        shape = Image.new("L", (size, size), 0)
        s, c = diameter / 2, size / 2
        points = [(-0.9, 0), (0, -0.8), (0, -0.3), (0.85, -0.3), (0.85, 0.3), (0, 0.3), (0, 0.8)]
        turn = [math.pi, math.pi / 2, 0.0][arrow]  # the arrow's head points left, up or right
        rotated = [(x * math.cos(turn) - y * math.sin(turn), x * math.sin(turn) + y * math.cos(turn)) for x, y in points]
        ImageDraw.Draw(shape).polygon([(c + x * s, c + y * s) for x, y in rotated], fill=255)
        inside = np.asarray(shape, np.float32) / 255
        r = np.where(inside > 0.5, r * 0.6, np.maximum(r, 1.05))  # inside the arrow: lit; outside: glow only
    core = rng.uniform(0.15, 0.8)
    white = np.clip((1 - r) / max(1 - core, 1e-3), 0, 1) ** rng.uniform(0.5, 2.0)  # 1 at the centre
    rgb = np.array(color, np.float32) * (1 - white[..., None]) + 255 * white[..., None]
    glow = np.exp(-(np.clip(r - 1, 0, None) ** 2) / (2 * rng.uniform(0.08, 0.5) ** 2)) * rng.uniform(0.3, 0.9)
    alpha = np.where(r <= 1, 1.0, glow)
    rgba = np.dstack([np.clip(rgb, 0, 255), np.clip(alpha * 255, 0, 255)]).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")


def draw_light(state: str, lamp: int, rng: np.random.Generator, dim: float = 1.0) -> Image.Image:
    """The whole signal head, RGBA, lamps of diameter `lamp`, vertical; everything but the lit lamp
    scaled by `dim` (at night the housing is all but black)."""
    margin = int(lamp * rng.uniform(0.2, 0.5))
    spacing = int(lamp * rng.uniform(0.15, 0.45))
    width = lamp + 2 * margin
    height = 3 * lamp + 2 * spacing + 2 * margin
    pad = lamp
    head = Image.new("RGBA", (width + 2 * pad, height + 2 * pad), (0, 0, 0, 0))
    draw = ImageDraw.Draw(head)
    housings = LIGHT_HOUSINGS if rng.random() < 0.25 else HOUSINGS
    housing = housings[int(rng.integers(0, len(housings)))]
    housing = tuple(int(np.clip(c * rng.uniform(0.7, 1.2) * dim, 0, 255)) for c in housing)
    if rng.random() < 0.3:  # back plate
        edge = tuple(int(v * dim) for v in ((230, 230, 230) if rng.random() < 0.5 else (20, 20, 20)))
        draw.rectangle((pad - lamp // 2, pad - lamp // 4, pad + width + lamp // 2, pad + height + lamp // 4), fill=edge)
        inset = max(1, lamp // 8)
        draw.rectangle(
            (
                pad - lamp // 2 + inset,
                pad - lamp // 4 + inset,
                pad + width + lamp // 2 - inset,
                pad + height + lamp // 4 - inset,
            ),
            fill=(15, 15, 15),
        )
    draw.rounded_rectangle((pad, pad, pad + width, pad + height), radius=int(lamp * rng.uniform(0, 0.5)), fill=housing)
    visor = rng.choice(["none", "tunnel", "cap", "louvre"])
    palette_index = rng.random()
    palette = PALE if rng.random() < 0.45 else PALETTE
    arrow = int(rng.integers(0, 3)) if rng.random() < 0.2 else None
    for index, name in enumerate(ORDER):
        cx = pad + width // 2
        cy = pad + margin + lamp // 2 + index * (lamp + spacing)
        box = (cx - lamp // 2, cy - lamp // 2, cx + lamp // 2, cy + lamp // 2)
        if name == state:
            colors = palette[name]
            color = colors[min(len(colors) - 1, int(palette_index * len(colors)))]
            tile = lamp_tile(color, lamp, rng, arrow)
            head.alpha_composite(tile, (cx - lamp, cy - lamp))
        else:
            dark = int(rng.uniform(10, 45) * dim)
            draw.ellipse(box, fill=(dark, dark, dark + int(rng.uniform(0, 10))))
            if rng.random() < 0.5:  # a highlight on the glass
                draw.arc(box, 200, 300, fill=(dark + 40, dark + 40, dark + 50), width=max(1, lamp // 12))
        _draw_visor(draw, str(visor), box, cy, lamp, housing)
    return head.crop((pad - lamp // 2, pad - lamp // 3, pad + width + lamp // 2, pad + height + lamp // 3))


def _draw_visor(draw: ImageDraw.ImageDraw, visor: str, box: tuple, cy: int, lamp: int, housing: tuple) -> None:
    """A tunnel, a cap or louvres over one lamp (or nothing)."""
    if visor == "tunnel":
        draw.polygon(
            [
                (box[0] - 2, cy),
                (box[0] - lamp // 5, box[1] - lamp // 5),
                (box[2] + lamp // 5, box[1] - lamp // 5),
                (box[2] + 2, cy),
            ],
            outline=housing,
            width=max(1, lamp // 8),
        )
    elif visor == "cap":
        draw.chord(
            (box[0] - lamp // 8, box[1] - lamp // 6, box[2] + lamp // 8, cy + lamp // 6), 180, 360, fill=housing
        )
    elif visor == "louvre":
        for k in range(1, 4):
            y = box[1] + k * lamp // 4
            draw.line((box[0], y, box[2], y), fill=housing, width=max(1, lamp // 20))


def camera(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Pillow's idea of a camera: blur, colour (often washed out), contrast, brightness (sometimes
    overexposed), a colour cast (often blue), noise, JPEG."""
    if rng.random() < 0.5:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.2, 1.0)))
    image = ImageEnhance.Color(image).enhance(float(rng.choice([rng.uniform(0.0, 0.3), rng.uniform(0.3, 0.8), rng.uniform(0.8, 1.3)], p=[0.15, 0.5, 0.35])))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.5, 1.2))
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.75, 1.25) if rng.random() < 0.7 else rng.uniform(1.25, 1.8))
    kind = rng.random()
    cast = np.array(
        [rng.uniform(0.8, 1.0), 1.0, rng.uniform(1.0, 1.2)]  # blue
        if kind < 0.4
        else ([rng.uniform(1.0, 1.15), 1.0, rng.uniform(0.85, 1.0)] if kind < 0.6 else [1.0, 1.0, 1.0]),  # warm
        np.float32,
    )
    pixels = np.asarray(image, np.float32) * cast + rng.normal(0, rng.uniform(0, 6), (image.height, image.width, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if rng.random() < 0.7:
        with tempfile.SpooledTemporaryFile() as buffer:
            image.save(buffer, "JPEG", quality=int(rng.integers(30, 95)))
            buffer.seek(0)
            image = Image.open(buffer).convert("RGB")
    return image


def sky(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A bright sky, white-grey to pale blue, brighter towards one edge, with a faint texture."""
    top = np.array([rng.uniform(150, 235), rng.uniform(170, 245), rng.uniform(200, 255)], np.float32)
    if rng.random() < 0.5:  # overcast: grey-white
        top = np.full(3, rng.uniform(170, 250), np.float32)
    bottom = np.clip(top * rng.uniform(0.85, 1.1), 0, 255)
    ramp = np.linspace(0, 1, size[1], dtype=np.float32)[:, None, None]
    pixels = top * (1 - ramp) + bottom * ramp + rng.normal(0, 2, (size[1], size[0], 1)).astype(np.float32)
    return Image.fromarray(np.clip(pixels * np.ones((1, size[0], 1), np.float32), 0, 255).astype(np.uint8))


def background(photos: list[Image.Image], size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A cut of a photograph, or (half the time) a bright sky as most lights are seen against."""
    if rng.random() < 0.5:
        return sky(size, rng)
    photo = photos[int(rng.integers(0, len(photos)))]
    scale = rng.uniform(0.3, 1.0)
    w, h = max(size[0], int(photo.width * scale)), max(size[1], int(photo.height * scale))
    photo = photo.resize((w, h), Image.BILINEAR)
    x, y = int(rng.integers(0, w - size[0] + 1)), int(rng.integers(0, h - size[1] + 1))
    return photo.crop((x, y, x + size[0], y + size[1]))


def crop_image(state: str, photos: list[Image.Image], rng: np.random.Generator) -> Image.Image:
    """A crop around one light at a camera's resolution: 15-110 px wide, tight or with some scene."""
    head = draw_light(state, int(rng.integers(24, 48)), rng)
    horizontal = rng.random() < 0.15
    if horizontal:  # red at the left
        head = head.transpose(Image.Transpose.ROTATE_90)
    head = head.rotate(rng.normal(0, 2.5), resample=Image.BICUBIC, expand=True)
    loose = rng.random() < 0.3
    margin = rng.uniform(0.3, 1.2) if loose else rng.uniform(0.0, 0.25)
    size = (int(head.width * (1 + margin)), int(head.height * (1 + margin * rng.uniform(0.3, 1.0))))
    scene = background(photos, size, rng).convert("RGBA")
    scene.alpha_composite(
        head,
        (
            (size[0] - head.width) // 2 + int(rng.integers(-2, 3)),
            (size[1] - head.height) // 2 + int(rng.integers(-2, 3)),
        ),
    )
    width = int(math.exp(rng.uniform(math.log(15), math.log(110 if loose else 70))))
    if horizontal:
        width = int(width * 2.5)
    target = (max(8, width), max(8, int(width * size[1] / size[0])))
    resample = [Image.BICUBIC, Image.BILINEAR, Image.LANCZOS, Image.BOX][int(rng.integers(0, 4))]
    return camera(scene.convert("RGB").resize(target, resample), rng)


def write_crops(out: Path, per_class: int, photos: list[Image.Image], seed: int) -> None:
    rng = np.random.default_rng(seed)
    for state in STATES:
        (out / state).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            crop_image(state, photos, rng).save(out / state / f"{index:04d}.png")
    print(f"wrote {per_class * len(STATES)} crops to {out}")


def night(photo: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The photograph at night: nearly black, with street lamps (amber sodium or white LED, bright
    and blooming) and a lit sign in a strong colour."""
    dark = Image.eval(photo, lambda v: int(v * 0.12))
    lights = Image.new("RGB", photo.size, (0, 0, 0))
    draw = ImageDraw.Draw(lights)
    for _ in range(int(rng.integers(3, 7))):
        x, y, r = int(rng.integers(0, photo.width)), int(rng.integers(0, photo.height // 2)), int(rng.integers(6, 18))
        color = (255, 190, 70) if rng.random() < 0.7 else (255, 245, 225)
        draw.ellipse((x - r, y - r // 2, x + r, y + r // 2), fill=color)
    x, y = int(rng.integers(0, photo.width - 120)), int(rng.integers(photo.height // 3, photo.height - 60))
    draw.rectangle((x, y, x + int(rng.integers(60, 120)), y + int(rng.integers(25, 60))), fill=[(220, 30, 30), (30, 200, 60), (40, 80, 230)][int(rng.integers(0, 3))])
    glow = lights.filter(ImageFilter.GaussianBlur(6))
    pixels = np.asarray(dark, np.float32) + np.asarray(lights, np.float32) + 1.5 * np.asarray(glow, np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def write_clip(
    out: Path, seconds: float, fps: float, photos: list[Image.Image], seed: int, whole_frame: bool = False
) -> None:
    """640x480, a slowly panning photograph, one light in a fixed ROI cycling through its states
    (with a spell of flashing yellow); the light's style changes every few seconds, and every other
    style is a night street (the flashing spell falls in one). `whole_frame`: the truth's ROI is the
    whole frame, as a camera classified without `--roi`."""
    import cv2

    rng = np.random.default_rng(seed)
    width, height, side = 640, 480, 180
    roi = (400, 110, side, side)
    steady = ["red"] * 60 + ["green"] * 55 + ["yellow"] * 25 + ["red"] * 40
    cycle = steady + (["yellow"] * 12 + ["off"] * 13) * 3  # then flashing yellow, about 1 Hz
    num_frames = int(seconds * fps)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    states: list[str] = []
    flashing: list[list[int]] = []  # [start, end) frames of each flashing spell
    for index in range(num_frames):
        if index % 100 == 0:
            photo = background(photos, (width + 120, height + 90), rng)
            if (index // 100) % 2 == 1:
                photo = night(photo, rng)
            style_seed = int(rng.integers(0, 2**31))
            lamp = int(rng.integers(30, 40))
        position = (index + 37 * (index // 100)) % len(cycle)
        state = cycle[position]
        if position >= len(steady):
            if flashing and flashing[-1][1] == index:
                flashing[-1][1] = index + 1
            else:
                flashing.append([index, index + 1])
        head = draw_light(state, lamp, np.random.default_rng(style_seed), dim=0.2 if (index // 100) % 2 == 1 else 1.0)
        dx = int(60 + 50 * math.sin(index / fps * 0.5))
        dy = int(45 + 35 * math.cos(index / fps * 0.4))
        frame = photo.crop((dx, dy, dx + width, dy + height)).convert("RGBA")
        frame.alpha_composite(head, (roi[0] + (side - head.width) // 2, roi[1] + (side - head.height) // 2))
        frame = camera(frame.convert("RGB"), np.random.default_rng(seed * 7919 + index))
        writer.write(cv2.cvtColor(np.asarray(frame), cv2.COLOR_RGB2BGR))
        states.append(state)
    writer.release()
    roi = (0, 0, width, height) if whole_frame else tuple(roi)
    ClipTruth(fps, roi, states, [(start, end) for start, end in flashing]).write(out)
    print(f"wrote {num_frames} frames to {out}")


OFF_THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98)


def score(model: Path, crops: Path, clip: Path | None) -> dict:
    """Per-class recall on the crops (by the model's own decision rule, and by plain top-1) and on
    the clip's frames (per-frame label and smoothed state); how `off` held to a minimum score trades
    lit lamps read as off against off read as lit."""
    from edgecls.runtime import load_classifier

    return score_with(load_classifier(model, "cpu"), crops, clip)


def score_with(classifier, crops: Path, clip: Path | None) -> dict:
    """`score` for a classifier already open."""
    from edgecls.runtime import classify_files, collect_inputs
    from edgecls.runtime.folders import list_class_folders

    classes = classifier.info.classes
    truth = {str(p): name for name, files in list_class_folders(crops).items() for p in files}
    results = list(classify_files(classifier, collect_inputs([str(crops)]), batch_size=32, topk=len(classes)))
    report = {
        "crops": recall([(truth[r.path], r.label) for r in results]),
        "crops_top1": recall([(truth[r.path], r.topk[0][0]) for r in results]),
        "decision": dict(classifier.info.min_class_scores),
    }
    if "off" in classes:
        rows = [(truth[r.path], np.array([dict(r.topk)[name] for name in classes], np.float32)) for r in results]
        report["off_rule"] = {str(limit): off_rule(classifier.info, rows, limit) for limit in (None, *OFF_THRESHOLDS)}
    if clip:
        report.update(score_clip_file(classifier, clip))
    return report


def score_clip_file(classifier, clip: Path) -> dict:
    """serve-camera's loop over `clip` (in the ROI its truth names): accuracy and per-class recall of
    the per-frame labels and of the smoothed states (a flashing spell's frames should say flashing_yellow:
    the seconds it takes to see the cycle count against the state's score)."""
    from edgecls.demo import score_clip

    with tempfile.TemporaryDirectory() as folder:
        frames_out = Path(folder) / "frames.jsonl"
        score_clip(classifier, clip, frames_out)
        frames = [json.loads(line) for line in frames_out.read_text().splitlines()]
    truth = ClipTruth.read(clip)
    states, reported = truth.states, truth.reported()
    return {
        "clip_frames": recall([(states[f["frame"]], f["label"]) for f in frames]),
        "clip_state": recall([(reported[f["frame"]], f["state"]) for f in frames]),
    }


def off_rule(info, rows: list[tuple[str, np.ndarray]], limit: float | None) -> dict:
    """Crops scored as the runtime would with `off` reported only at probability `limit` or more
    (None: plain top-1): the model's own decision rule (`ModelInfo.decide`) with that minimum."""
    from dataclasses import replace

    rule = replace(info, min_class_scores={} if limit is None else {"off": limit})
    pairs = [(truth, info.classes[rule.decide(probabilities)]) for truth, probabilities in rows]
    figures = recall(pairs)
    figures["lit_read_off"] = sum(truth != "off" and label == "off" for truth, label in pairs)
    figures["off_read_lit"] = sum(truth == "off" and label != "off" for truth, label in pairs)
    return figures


def yardstick(model: Path, out: Path, per_class: int, seed: int, seconds: float) -> dict:
    """Make the crops and the two clips (one light in an ROI; the whole frame) under `out` if they are
    not there (seeds `seed`, `seed` + 1 and + 2), score `model` on them and print the figures a
    person reads."""
    if not (out / "crops").is_dir():
        write_crops(out / "crops", per_class, photographs(None), seed)
    clip, whole = out / "clip.avi", out / "clip-frame.avi"
    if not clip.is_file():
        write_clip(clip, seconds, 25.0, photographs(None), seed + 1)
    if not whole.is_file():
        write_clip(whole, seconds, 25.0, photographs(None), seed + 2, whole_frame=True)
    from edgecls.runtime import load_classifier

    classifier = load_classifier(model, "cpu")
    report = score_with(classifier, out / "crops", clip)
    whole_figures = score_clip_file(classifier, whole)
    report.update({f"frame_{key}": value for key, value in whole_figures.items()})
    print(f"independent yardstick ({report['crops']['n']} crops, another renderer over real photographs):")
    for key, title in (("crops", "crops, the model's decision"), ("crops_top1", "crops, plain top-1")):
        figures = report[key]
        per_class = ", ".join(f"{name} {value:.1%}" for name, value in figures["recall"].items())
        print(f"  {title}: {figures['accuracy']:.2%} ({per_class})")
    for limit, figures in report.get("off_rule", {}).items():
        per_class = ", ".join(f"{name} {value:.1%}" for name, value in figures["recall"].items())
        print(
            f"  off only at p >= {limit}: {figures['accuracy']:.2%} ({per_class}); lit read as off "
            f"{figures['lit_read_off']}, off read as lit {figures['off_read_lit']}"
        )
    for key in ("clip_frames", "clip_state", "frame_clip_frames", "frame_clip_state"):
        figures = report[key]
        per_class = ", ".join(f"{name} {value:.1%}" for name, value in figures["recall"].items())
        print(f"  {key.replace('_', ' ')}: {figures['accuracy']:.2%} ({per_class})")
    return report


def recall(pairs: list[tuple[str, str]]) -> dict:
    from edgecls.datasets.clips import recall_by_class

    return {
        "accuracy": round(sum(t == p for t, p in pairs) / len(pairs), 4),
        "recall": recall_by_class(pairs),
        "n": len(pairs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    crops = sub.add_parser("crops")
    crops.add_argument("out", type=Path)
    crops.add_argument("--per-class", type=int, default=200)
    clip = sub.add_parser("clip")
    clip.add_argument("out", type=Path)
    clip.add_argument("--seconds", type=float, default=20.0)
    clip.add_argument("--fps", type=float, default=25.0)
    for command in (crops, clip):
        command.add_argument("--photos", type=Path)
        command.add_argument("--seed", type=int, default=7)
    scoring = sub.add_parser("score")
    scoring.add_argument("model", type=Path)
    scoring.add_argument("crops", type=Path)
    scoring.add_argument("clip", type=Path, nargs="?")
    scoring.add_argument("--json", type=Path)
    whole = sub.add_parser("yardstick")
    whole.add_argument("model", type=Path)
    whole.add_argument("--out", type=Path, default=Path("yardstick"))
    whole.add_argument("--per-class", type=int, default=200)
    whole.add_argument("--seed", type=int, default=7)
    whole.add_argument("--seconds", type=float, default=20.0, help="each clip's length")
    whole.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.command == "yardstick":
        report = yardstick(args.model, args.out, args.per_class, args.seed, args.seconds)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
    elif args.command == "score":
        report = score(args.model, args.crops, args.clip)
        print(json.dumps(report, indent=2))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
    elif args.command == "crops":
        write_crops(args.out, args.per_class, photographs(args.photos), args.seed)
    else:
        write_clip(args.out, args.seconds, args.fps, photographs(args.photos), args.seed)


if __name__ == "__main__":
    main()
