"""Files and folders as inputs: the paths, folders, globs and lists a command is given (`collect_inputs`),\nfolders walked once each whatever their links (`walk_images`), and folders of class subfolders\n(`list_class_folders`, `labelled_files`)."""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from edgecls.core.errors import DataError
from edgecls.core.text import printable

from .classify import FileResult

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


REMOTE_PATH = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def collect_inputs(
    arguments: Iterable[str], remote: Callable[[str], tuple[list[str], list[FileResult]]] | None = None
) -> list[str | FileResult]:
    """Expand files, folders (recursively), glob patterns and `@LIST` files (one of these a line)
    into a de-duplicated list.

    Folders contribute files with an image suffix (the content still decides whether they decode);
    a file named explicitly is always tried. Each real folder is visited once, however many symlinks
    lead to it. A remote path (`s3://...`) is expanded by `remote` (the cluster's filesystems), and
    refused without it. What cannot be listed (a folder loop, an unreadable folder or list) and
    arguments that match nothing come back as FileResults with an error, so they are reported like
    any failed input.
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

    for argument in _with_lists(arguments, failures):
        path = Path(argument)
        if REMOTE_PATH.match(argument) and not os.path.lexists(path):
            if remote is None:
                failures[argument] = FileResult(
                    argument, error="a remote path: predict reads local files, `predict --ray` the cluster's filesystems"
                )
            else:
                items, problems = remote(argument)
                found.update(dict.fromkeys(items))
                failures.update((problem.path, problem) for problem in problems)
        elif path.is_dir():
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


def _with_lists(arguments: Iterable[str], failures: dict[str, FileResult]) -> Iterator[str]:
    """The arguments, each `@LIST` replaced by the lines of the file LIST (blank lines skipped; a
    file whose name starts with @ is named ./@name). A list that cannot be read is a failure."""
    for argument in arguments:
        if not argument.startswith("@"):
            yield argument
            continue
        try:
            lines = Path(argument[1:]).read_bytes().splitlines()
        except OSError as error:
            failures[argument] = FileResult(argument, error=f"cannot read this list of paths ({error.strerror or error})")
            continue
        names = [os.fsdecode(line) for line in lines if line.strip()]
        if not names:
            failures[argument] = FileResult(argument, error="this list of paths is empty (one path a line)")
        yield from names


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
