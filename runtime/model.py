"""Load an edgecls ONNX file: one session, its checked contract, and batched inference."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgecls.core.errors import ModelContractError

from .contract import ModelInfo, check_probabilities, read_contract
from .images import DEFAULT_MAX_PIXELS, load_and_resize, resize_image
from .providers import Provider, create_session

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

    from edgecls.core.progress import Task


@dataclass
class Classifier:
    """An ONNX classifier ready to run: use `load_classifier` to make one."""

    path: Path
    info: ModelInfo
    session: InferenceSession
    provider: str
    provider_note: str

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (float32, [N, num_classes]) for uint8 RGB images [N, H, W, 3] of the model's size."""
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:3] != self.info.input_size:
            raise ValueError(
                f"expected uint8 images of shape [N, {self.info.input_size[0]}, {self.info.input_size[1]}, 3], "
                f"got {images.dtype} {list(images.shape)}"
            )
        (scores,) = self.session.run([self.info.output_name], {self.info.input_name: images})
        scores = scores.astype(np.float32, copy=False)
        if self.info.output == "logits":
            with np.errstate(over="ignore", invalid="ignore"):  # NaN rows stay NaN, to be counted by the caller
                shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
                return shifted / shifted.sum(axis=1, keepdims=True)
        check_probabilities(scores, str(self.path), self.info.output_name)
        return scores

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """Resize an RGB uint8 image of any size to the model's input size (the contract's rule)."""
        return resize_image(image, self.info.input_size)

    def load(self, path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
        """Decode and resize one image file for this model."""
        return load_and_resize(path, self.info.input_size, max_pixels=max_pixels)


def load_classifier(
    path: str | os.PathLike[str], provider: Provider | str = Provider.auto, threads: int | None = None
) -> Classifier:
    """Open an edgecls ONNX file on `provider` and check its contract.

    Raises:
        ModelContractError: not a readable ONNX file, or its metadata is missing or wrong.
        ProviderError: the provider asked for cannot run here.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelContractError(f"{path}: model file not found. Pass the .onnx file written by `edgecls export`.")
    if path.suffix.lower() in (".keras", ".h5"):
        onnx_file = path.with_name("model.onnx")
        hint = f" ({onnx_file} is there)" if onnx_file.is_file() else f": `edgecls export {path.parent}` writes it"
        raise ModelContractError(
            f"{path}: a Keras model; the runtime reads the ONNX file `edgecls export` writes from it{hint}."
        )
    try:
        model_bytes = path.read_bytes()
    except OSError as error:
        raise ModelContractError(f"{path}: cannot read the model ({error.strerror})") from None
    return open_classifier(model_bytes, path, provider, threads)


def open_classifier(
    model_bytes: bytes, path: str | os.PathLike[str], provider: Provider | str = Provider.auto, threads: int | None = None
) -> Classifier:
    """`load_classifier` for a model already read (a cluster's actors get its bytes, not its path);
    `path` names it in messages."""
    path = Path(path)
    result = create_session(model_bytes, provider, threads=threads, name=str(path))
    session = result.session
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        raise ModelContractError(f"{path}: the contract needs one input; the graph has {len(inputs)}.")
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    info = read_contract(
        metadata,
        input_name=inputs[0].name,
        input_type=inputs[0].type,
        input_shape=list(inputs[0].shape),
        output_name=outputs[0].name,
        output_shape=list(outputs[0].shape),
        source=str(path),
    )
    return Classifier(path=path, info=info, session=session, provider=result.provider, provider_note=result.note)


def predict_in_batches(
    predict: Callable[[np.ndarray], Any], images: Any, batch_size: int, progress: Task | None = None
) -> np.ndarray:
    """`predict` (a Classifier's, or a Keras model's `predict_on_batch`) over `images` (an array, or
    anything that slices like one and has a length, such as training's image sources) in slices of
    `batch_size`, as one float32 array with a row per image, in order; `progress` is told each slice.
    The one batched-inference loop: training's evaluation and feature extraction, the export's gate
    and `classify_files` all run through it."""
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size]
        outputs.append(np.asarray(predict(batch), dtype=np.float32))
        if progress is not None:
            progress.update(len(batch))
    if not outputs:
        raise ValueError("predict_in_batches needs at least one image")
    return np.concatenate(outputs)
