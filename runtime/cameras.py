"""What a live run watches: cameras (sources), each with named lights (regions of its frame).

From the command line (`source` given once or more: one light per camera, the whole frame or `roi`)
or from a TOML file:

    [[camera]]
    name = "north"
    source = "rtsp://10.0.0.5/stream"

    [[camera.light]]
    name = "north-main"
    roi = [400, 120, 170, 170]   # x, y, width, height in the camera's pixels

    [[camera]]
    source = "1"                 # a camera without lights: one light, the whole frame, named as the camera
    classify_fps = 10            # this camera's own rate (default: the run's `--classify-fps`)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from edgecls.core.errors import StreamError

from .sources import mask_credentials

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Roi = tuple[int, int, int, int]


@dataclass(frozen=True)
class LightSpec:
    name: str
    roi: Roi | None = None  # None: the whole frame


@dataclass(frozen=True)
class CameraSpec:
    name: str
    source: str
    lights: tuple[LightSpec, ...]
    classify_fps: float | None = None  # this camera's own rate (the cameras file's `classify_fps`); None: the run's


def cameras_from_sources(sources: list[str], roi: Roi | None, light: str) -> list[CameraSpec]:
    """One camera per `source`, each with one light: `light` (inside `roi`) for a single source, else
    the camera's own name (cam0, cam1, ...) over its whole frame.

    Raises:
        StreamError: `roi` with more than one source (each camera needs its own: a config file).
    """
    if len(sources) == 1:
        return [CameraSpec("cam0", sources[0], (LightSpec(light, roi),))]
    if roi is not None:
        raise StreamError(
            "`roi` is for a single `source`; with several cameras give each its lights and regions in a "
            "`config` file (see `edgecls serve-camera --help`)."
        )
    return [CameraSpec(f"cam{index}", source, (LightSpec(f"cam{index}"),)) for index, source in enumerate(sources)]


def read_cameras(path: Path) -> list[CameraSpec]:
    """The cameras and lights of a TOML file (see the module's docstring).

    Raises:
        StreamError: the file cannot be read or parsed, or a camera or light is malformed; the
            message names the file, the entry and what was expected.
    """
    document = _document(path)
    entries = document.get("camera")
    if not isinstance(entries, list) or not entries:
        raise StreamError(f"`config` {path}: no [[camera]] entries; each needs at least `source`.")
    cameras: list[CameraSpec] = []
    for index, entry in enumerate(entries):
        where = f"`config` {path}: camera {index + 1}"
        if not isinstance(entry, dict) or not isinstance(entry.get("source"), str) or not entry["source"].strip():
            raise StreamError(f'{where} needs `source = "..."` (a camera index, device, file or stream URL).')
        name = _name(entry.get("name", f"cam{index}"), where)
        lights = entry.get("light", [])
        if not isinstance(lights, list):
            raise StreamError(f"{where} ({name}): lights are [[camera.light]] tables with a name and a roi.")
        specs = tuple(_light(light, f"{where} ({name}), light {number + 1}") for number, light in enumerate(lights))
        rate = entry.get("classify_fps")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1000):
            raise StreamError(f"{where} ({name}): `classify_fps` must be a number of frames a second, 0 for every frame; received {rate!r}.")
        cameras.append(CameraSpec(name, entry["source"].strip(), specs or (LightSpec(name),), None if rate is None else float(rate)))
    _check_unique(path, [camera.name for camera in cameras], "camera")
    _check_unique(path, [light.name for camera in cameras for light in camera.lights], "light")
    return cameras


def read_table(path: Path, name: str) -> dict | None:
    """The `[name]` table of the TOML file (e.g. `[mqtt]`), None when there is none.

    Raises:
        StreamError: the file cannot be read or parsed, or `name` is not a table.
    """
    table = _document(path).get(name)
    if table is not None and not isinstance(table, dict):
        raise StreamError(f"`config` {path}: `{name}` must be a table: [{name}] with its keys below it.")
    return table


def _document(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise StreamError(f"`config` {path}: cannot read it ({error.strerror}).") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise StreamError(f"`config` {path}: not valid TOML ({error}).") from None


def describe(cameras: list[CameraSpec]) -> str:
    """One line for the user: how many cameras and lights, by name."""
    parts = [
        f"{camera.name} ({mask_credentials(camera.source)}: {', '.join(light.name for light in camera.lights)})"
        for camera in cameras
    ]
    count = sum(len(camera.lights) for camera in cameras)
    return f"{len(cameras)} camera(s), {count} light(s): " + "; ".join(parts)


def _light(entry: object, where: str) -> LightSpec:
    if not isinstance(entry, dict):
        raise StreamError(f"{where}: expected a table with a name and a roi.")
    name = _name(entry.get("name"), where)
    roi = entry.get("roi")
    if roi is None:
        return LightSpec(name)
    if (
        not isinstance(roi, list)
        or len(roi) != 4
        or not all(isinstance(value, int) and not isinstance(value, bool) for value in roi)
        or roi[0] < 0
        or roi[1] < 0
        or roi[2] <= 0
        or roi[3] <= 0
    ):
        raise StreamError(
            f"{where} ({name}): roi must be [x, y, width, height] in pixels, x, y >= 0 and "
            f"width, height > 0; received {roi!r}."
        )
    return LightSpec(name, (roi[0], roi[1], roi[2], roi[3]))


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or not value.isprintable() or len(value) > 64:
        raise StreamError(f"{where}: `name` must be a short printable text; received {value!r}.")
    return value.strip()


def _check_unique(path: Path, names: list[str], kind: str) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise StreamError(f"`config` {path}: each {kind} needs its own name; repeated: {', '.join(repeated)}.")
