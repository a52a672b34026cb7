"""Where training reads its decoded images from, a batch at a time, so that memory does not grow with
the dataset: a file of decoded images at model size written by the pre-scan (`DecodedFile`), or the
image files themselves, decoded again on every read (`ImageFiles`). Both hand out uint8 RGB arrays
[n, H, W, 3] for an index, a slice or an array of indices, like a numpy array does.

Both decode with the runtime's loader and resize rule, so training sees the pixels serving will.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgecls.core.errors import DataError, ImageError
from edgecls.runtime.images import decode_image, read_image_file, resize_image


class ImageSource:
    """Decoded images at model size, read on demand; `source[indices]` -> uint8 [n, H, W, 3]."""

    size: tuple[int, int]  # (height, width)

    def __len__(self) -> int:
        raise NotImplementedError

    def read(self, indices: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self), *self.size, 3)

    @property
    def dtype(self):
        return np.dtype(np.uint8)

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            indices = np.arange(len(self))[key]
        else:
            indices = np.asarray(key, dtype=np.int64)
            if indices.ndim == 0:
                return self.read(indices[None])[0]
        return self.read(indices)

    def subset(self, indices) -> ImageSource:
        return Subset(self, np.asarray(indices, dtype=np.int64))

    def close(self) -> None:
        """Let go of what reading needs (an open file); nothing for most sources."""


class Subset(ImageSource):
    def __init__(self, parent: ImageSource, indices: np.ndarray) -> None:
        self.parent, self.indices, self.size = parent, indices, parent.size

    def __len__(self) -> int:
        return len(self.indices)

    def read(self, indices: np.ndarray) -> np.ndarray:
        return self.parent.read(self.indices[indices])


class ArrayImages(ImageSource):
    """Images already in memory (small sets built in code, and tests)."""

    def __init__(self, images: np.ndarray) -> None:
        self.images, self.size = images, (int(images.shape[1]), int(images.shape[2]))

    def __len__(self) -> int:
        return len(self.images)

    def read(self, indices: np.ndarray) -> np.ndarray:
        return self.images[indices]


class ImageFiles(ImageSource):
    """The files themselves, decoded and resized on every read (no disk space, more CPU per epoch)."""

    def __init__(self, paths: list[str], size: tuple[int, int], max_pixels: int) -> None:
        self.paths, self.size, self.max_pixels = paths, size, max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), *self.size, 3), np.uint8)
        for row, index in enumerate(indices):
            path = self.paths[int(index)]
            try:
                data = read_image_file(Path(path))
                out[row] = resize_image(decode_image(data, name=path, max_pixels=self.max_pixels), self.size)
            except (ImageError, OSError) as error:
                raise DataError(
                    f"{path} could no longer be read during training ({error}); it was readable at the pre-scan. "
                    "Leave the data folder unchanged while training, or train again."
                ) from None
        return out


class DecodedFile(ImageSource):
    """Rows of H x W x 3 uint8 in one file, written in order by `DecodedFileWriter`; each read is a
    positioned read of the rows it needs (the page cache, not this process, holds what was read)."""

    def __init__(self, path: Path, count: int, size: tuple[int, int]) -> None:
        self.path, self.count, self.size = path, count, size
        self.row_bytes = size[0] * size[1] * 3
        self._descriptor = os.open(path, os.O_RDONLY)

    def __len__(self) -> int:
        return self.count

    def read(self, indices: np.ndarray) -> np.ndarray:
        """One positioned read per run of consecutive indices (a slice is one read; a shuffled batch
        is mostly one per image)."""
        indices = np.asarray(indices, dtype=np.int64)
        out = np.empty((len(indices), *self.size, 3), np.uint8)
        flat = out.reshape(len(indices), self.row_bytes)
        if not len(indices):
            return out
        if not (indices.min() >= 0 and indices.max() < self.count):
            bad = indices[(indices < 0) | (indices >= self.count)][0]
            raise IndexError(f"image {bad} of {self.count}")
        starts = np.flatnonzero(np.diff(indices, prepend=-2) != 1)  # where a run of consecutive indices begins
        for start, end in zip(starts, [*starts[1:], len(indices)], strict=True):
            size = (end - start) * self.row_bytes
            data = os.pread(self._descriptor, size, int(indices[start]) * self.row_bytes)
            if len(data) != size:
                raise DataError(f"the decoded-image file {self.path} was cut short while training; train again.")
            flat[start:end] = np.frombuffer(data, np.uint8).reshape(end - start, self.row_bytes)
        return out

    def close(self) -> None:
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1


class DecodedFileWriter:
    """Appends decoded images to a new file, one row each, for `DecodedFile` to read."""

    def __init__(self, path: Path, size: tuple[int, int]) -> None:
        self.path, self.size, self.count = path, size, 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(path, "wb")  # noqa: SIM115 - closed by finish()

    def append(self, image: np.ndarray) -> None:
        try:
            self._handle.write(np.ascontiguousarray(image, dtype=np.uint8).tobytes())
        except OSError as error:
            raise DataError(
                f"could not write the decoded images to {self.path} ({error.strerror}): free some space, or turn "
                "`image_cache` off (the files are then decoded again every epoch)."
            ) from None
        self.count += 1

    def finish(self) -> DecodedFile:
        self._handle.close()
        return DecodedFile(self.path, self.count, self.size)
