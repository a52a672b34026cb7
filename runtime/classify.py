"""Classify image files: expand the user's paths, decode in parallel, infer in batches.

One bad file never stops the run: it becomes a result with an `error` and the rest go on.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecls.core.errors import DataError, EdgeclsError
from edgecls.core.text import printable

from .contract import ModelInfo
from .images import DEFAULT_MAX_PIXELS
from .model import Classifier, predict_in_batches

IMAGE_SUFFIXES = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".bmp",
        ".dib",
        ".gif",
        ".webp",
        ".tif",
        ".tiff",
        ".jp2",
        ".pbm",
        ".pgm",
        ".ppm",
        ".pnm",
        ".sr",
        ".ras",
        ".exr",
        ".hdr",
        ".pic",
        ".avif",
    ]
)


@dataclass(frozen=True)
class FileResult:
    """The outcome for one input: a label and its top-k, or an error."""

    path: str
    label: str | None = None
    score: float | None = None
    topk: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        if self.error is not None or self.score is None:
            return {"path": self.path, "error": self.error}
        return {
            "path": self.path,
            "label": self.label,
            "score": round(self.score, 6),
            "topk": [{"label": label, "score": round(score, 6)} for label, score in self.topk],
        }


def collect_inputs(arguments: Iterable[str]) -> list[str | FileResult]:
    """Expand files, folders (recursively) and glob patterns into a sorted, de-duplicated list.

    Folders contribute files with an image suffix (the content still decides whether they decode);
    a file named explicitly is always tried. Each real folder is visited once, however many symlinks
    lead to it. What cannot be listed (a folder loop, an unreadable folder) and arguments that match
    nothing come back as FileResults with an error, so they are reported like any failed input.
    """
    found: dict[str, None] = {}
    failures: dict[str, FileResult] = {}
    visited: dict[tuple[int, int], str] = {}

    def add_folder(folder: Path) -> None:
        items, problems = walk_images(folder, visited)
        found.update(dict.fromkeys(items))
        failures.update((problem.path, problem) for problem in problems)
        if not items and not problems:  # said, not passed over: an empty folder is usually the wrong one
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            failures.setdefault(str(folder), FileResult(str(folder), error=f"no image files in this folder ({suffixes})"))

    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            add_folder(path)
        elif os.path.lexists(path):  # a file, a broken symlink, a FIFO: reading reports what it is
            found.setdefault(str(path))
        elif glob.has_magic(argument):
            matches = _glob(argument, visited, failures)
            if not matches:
                failures.setdefault(argument, FileResult(argument, error="no files match this pattern"))
            for match in matches:
                if Path(match).is_dir():
                    add_folder(Path(match))
                else:
                    found.setdefault(match)
        else:
            failures[argument] = FileResult(argument, error="not found")
    return [*failures.values(), *found]


def _glob(pattern: str, visited: dict[tuple[int, int], str], failures: dict[str, FileResult]) -> list[str]:
    """Matches of a glob pattern. `**` is expanded with the walker (each real folder once), not with
    the standard library's glob, which follows symlink loops until the path is too long."""
    if "**" not in pattern:
        return sorted(glob.glob(pattern))
    base = pattern.split("**", 1)[0]
    root = Path(base.rpartition("/")[0] or ".") if not glob.has_magic(base) else None
    if root is None or not root.is_dir():
        return sorted(glob.glob(pattern, recursive=False))
    files, problems = walk_images(root, visited, all_files=True)
    failures.update((problem.path, problem) for problem in problems)
    shallow = pattern.replace("**/", "")  # "**/" also matches no folder at all
    prefix = "" if base.rpartition("/")[0] else "./"
    return sorted(
        item
        for item in files
        if fnmatch.fnmatchcase(item.removeprefix(prefix), pattern)
        or fnmatch.fnmatchcase(item.removeprefix(prefix), shallow)
    )


def walk_images(
    folder: Path, visited: dict[tuple[int, int], str] | None = None, all_files: bool = False
) -> tuple[list[str], list[FileResult]]:
    """Image files under `folder` (sorted; hidden names skipped), and what could not be walked.

    Symlinked folders are followed, but each real folder (device, inode) is walked once: a link back
    to a folder it is in is reported as a loop; a second way to a folder already walked adds nothing.
    An unreadable folder is reported, not skipped in silence. `all_files` lists every file, whatever
    its suffix."""
    visited = {} if visited is None else visited
    items: list[str] = []
    problems: list[FileResult] = []

    def unreadable(error: OSError) -> None:
        where = error.filename or str(folder)
        problems.append(FileResult(where, error=f"cannot read this folder ({error.strerror or error})"))

    for root, directories, files in os.walk(folder, followlinks=True, onerror=unreadable):
        try:
            status = os.stat(root)
        except OSError as error:
            unreadable(error)
            directories[:] = []
            continue
        identity = (status.st_dev, status.st_ino)
        if identity in visited:  # walked already: its files are listed once
            directories[:] = []
            first = visited[identity]
            if root.startswith(first.rstrip(os.sep) + os.sep):  # inside itself: a loop
                problems.append(FileResult(root, error=f"folder loop: leads back to {first}, not walked again"))
            continue
        visited[identity] = root
        directories[:] = sorted(name for name in directories if not name.startswith("."))
        for name in files:
            if not name.startswith(".") and (all_files or Path(name).suffix.lower() in IMAGE_SUFFIXES):
                items.append(os.path.join(root, name))
    return sorted(items), problems


def list_class_folders(
    root: Path, role: str = "`data`", left_out: list[tuple[str, str]] | None = None
) -> dict[str, list[Path]]:
    """Class name -> image files (sorted), for a folder with one subfolder per class. Other files
    (HEIC, no suffix, text) are not images edgecls reads: each is added to `left_out` with why.

    Raises:
        DataError: the folder is missing, has no class subfolders, or a class folder has no images.
    """
    if not root.is_dir():
        raise DataError(f"{role} {root}: folder not found. Pass a folder with one subfolder per class.")
    classes = sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        raise DataError(
            f"{role} {root}: no class subfolders. Expected {root}/<class name>/<images>, e.g. {root}/cats/001.jpg."
        )
    unprintable = [name for name in classes if printable(name) != name]
    if unprintable:
        raise DataError(
            f"{role} {root}: class folder name {printable(unprintable[0])} is not printable UTF-8 text; class "
            "names become the model's labels. Rename the folder."
        )
    files: dict[str, list[Path]] = {}
    for name in classes:
        everything, problems = walk_images(root / name, all_files=True)
        items = [item for item in everything if Path(item).suffix.lower() in IMAGE_SUFFIXES]
        if left_out is not None:
            left_out += [(item, _not_an_image(item)) for item in everything if Path(item).suffix.lower() not in IMAGE_SUFFIXES]
        if problems:
            listed = "; ".join(f"{problem.path}: {problem.error}" for problem in problems[:3])
            raise DataError(f"{role} {root}: {listed}. Fix or remove these folders, then run again.")
        files[name] = [Path(item) for item in items]
    empty = [name for name, items in files.items() if not items]
    if empty:
        raise DataError(
            f"{role} {root}: class folder(s) {', '.join(empty)} hold no images. "
            "Add images, or remove the folder if the class is not wanted."
        )
    return files


def _not_an_image(path: str) -> str:
    suffix = Path(path).suffix.lower()
    kind = f"a {suffix} file" if suffix else "a file without a suffix"
    return f"{kind}, not an image edgecls reads ({', '.join(sorted(IMAGE_SUFFIXES))}); convert it, or name it by its format"


def labelled_files(
    root: str | os.PathLike[str], classes: Sequence[str] | None = None, role: str = "`data`"
) -> list[tuple[str, str]]:
    """(image path, class name) for every image in a folder of class subfolders (see
    `list_class_folders`). With `classes` (a model's), a folder that is not one of them is refused.

    Raises:
        DataError: as `list_class_folders`, or a class folder the model does not know.
    """
    files = list_class_folders(Path(root), role=role)
    unknown = sorted(set(files) - set(classes)) if classes is not None else []
    if unknown:
        raise DataError(
            f"{role} {root}: class folder(s) {', '.join(unknown)} are not classes of this model {list(classes or [])}."
        )
    return [(str(path), name) for name, paths in files.items() for path in paths]


def bounded_map(function: Callable, items: Iterable, workers: int, window: int) -> Iterator:
    """Like `executor.map`, in order, but with at most `window` items in flight (bounded memory)."""
    with ThreadPoolExecutor(max_workers=workers) as executor:
        pending: deque[Future] = deque()
        for item in items:
            pending.append(executor.submit(function, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def classify_files(
    classifier: Classifier,
    inputs: list[str | FileResult],
    batch_size: int = 16,
    topk: int = 1,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int | None = None,
) -> Iterator[FileResult]:
    """Classify every input, yielding one FileResult per input in input order.

    Decoding runs on `workers` threads (OpenCV releases the GIL); inference runs in batches of
    `batch_size`. Decoding errors become results with an `error`; nothing raises for a bad file.
    """
    topk = max(1, min(topk, classifier.info.num_classes))
    workers = workers or min(4, os.cpu_count() or 1)

    def decode(item: str | FileResult) -> tuple[str | FileResult, np.ndarray | None, str | None]:
        if isinstance(item, FileResult):
            return item, None, None
        try:
            return item, classifier.load(item, max_pixels=max_pixels), None
        except EdgeclsError as error:
            return item, None, str(error).removeprefix(f"{Path(item)}: ")
        except MemoryError:
            return item, None, "out of memory while decoding"

    batch: list[tuple[str, np.ndarray]] = []
    for item, image, error in bounded_map(decode, inputs, workers, window=2 * batch_size):
        if isinstance(item, FileResult):
            yield from _flush(classifier, batch, topk)
            batch = []
            yield item
        elif image is None:
            yield from _flush(classifier, batch, topk)
            batch = []
            yield FileResult(item, error=error)
        else:
            batch.append((item, image))
            if len(batch) == batch_size:
                yield from _flush(classifier, batch, topk)
                batch = []
    yield from _flush(classifier, batch, topk)


def _flush(classifier: Classifier, batch: list[tuple[str, np.ndarray]], topk: int) -> Iterator[FileResult]:
    if not batch:
        return
    probabilities = predict_in_batches(classifier.predict, np.stack([image for _, image in batch]), len(batch))
    for (path, _), row in zip(batch, probabilities, strict=True):
        yield result_from_probabilities(path, row, classifier.info, topk)


NOT_FINITE = "the model's output is not finite (NaN or infinity) for this input; the model file may be damaged"


def result_from_probabilities(path: str, row: np.ndarray, info: ModelInfo, topk: int) -> FileResult:
    """The label is the model's decision (`ModelInfo.decide`: a class that must be earned is not
    reported below its minimum score); `topk` ranks the probabilities as they are."""
    if not np.isfinite(row).all():  # never a number that JSON cannot carry
        return FileResult(path, error=NOT_FINITE)
    order = np.argsort(-row, kind="stable")[:topk]
    ranked = [(info.classes[index], float(row[index])) for index in order]
    chosen = info.decide(row)
    return FileResult(path, label=info.classes[chosen], score=float(row[chosen]), topk=ranked)
