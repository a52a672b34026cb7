"""Execution providers: create an onnxruntime session on the device asked for, and say truthfully
which one runs.

`cuda` and `openvino` fail with the reason when they cannot be used; `auto` tries CUDA, then
OpenVINO (where the onnxruntime-openvino wheel is installed), then the CPU. The provider reported
back is always read from `session.get_providers()`, never assumed.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from edgecls.core.errors import ModelContractError, ProviderError

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

ONNX_PROVIDERS = {"cuda": "CUDAExecutionProvider", "openvino": "OpenVINOExecutionProvider", "cpu": "CPUExecutionProvider"}
# The wheels that each install the `onnxruntime` module: two of them in one environment overwrite each
# other's files, and what is left is whichever was installed last, often broken.
ONNXRUNTIME_WHEELS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino")
OPENVINO_INSTALL = (
    "pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-openvino "
    "(the README's OpenVINO install: the two wheels share one module and must not be installed together)"
)


class Provider(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    openvino = "openvino"


def onnxruntime_wheels() -> list[str]:
    """The onnxruntime wheels installed in this environment (normally exactly one)."""
    from importlib import metadata

    found = []
    for name in ONNXRUNTIME_WHEELS:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def check_one_onnxruntime() -> None:
    """Raises ProviderError when two onnxruntime wheels are installed together (half of each may be left)."""
    found = onnxruntime_wheels()
    if len(found) > 1:
        keep = "onnxruntime-openvino" if "onnxruntime-openvino" in found else found[-1]
        others = " ".join(name for name in found if name != keep)
        raise ProviderError(
            f"{' and '.join(found)} are installed together; they share the onnxruntime module and overwrite each "
            f"other's files. Keep one: pip uninstall -y {' '.join(found)} && pip install {keep}"
            + (f" (or {others} instead)" if others else "")
        )


@dataclass(frozen=True)
class SessionResult:
    session: InferenceSession
    provider: str  # "cuda", "openvino" or "cpu": what the session reports it runs on
    note: str  # one line for the user, e.g. why CUDA was not used


def cuda_unavailable_reason() -> tuple[str, str] | None:
    """Why the CUDA provider cannot run here and how to fix it, or None if it looks usable.

    Checks, without creating a session (which would print onnxruntime's multi-line error): the
    installed onnxruntime has the CUDA provider; its library and the CUDA/cuDNN libraries it links
    load; the NVIDIA driver loads and reports at least one device.
    """
    import onnxruntime as ort

    if ONNX_PROVIDERS["cuda"] not in ort.get_available_providers():
        return "this onnxruntime build has no CUDA provider", "pip install onnxruntime-gpu (and uninstall onnxruntime)"
    if hasattr(ort, "preload_dlls"):
        # Loads CUDA/cuDNN from the nvidia-* pip packages when present; it prints what it misses.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            ort.preload_dlls()
    library = os.path.join(os.path.dirname(ort.__file__), "capi", "libonnxruntime_providers_cuda.so")
    if os.path.exists(library):
        try:
            ctypes.CDLL(library)
        except OSError as error:
            missing = str(error).split(":")[0]
            return (
                f"{missing} not found",
                "install the CUDA and cuDNN versions your onnxruntime-gpu was built for, "
                "e.g. pip install 'onnxruntime-gpu[cuda,cudnn]'",
            )
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no NVIDIA driver (libcuda.so.1 not found)", "install the NVIDIA driver, or run on a machine with a GPU"
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value == 0:
        return "the NVIDIA driver reports no usable CUDA device", "check nvidia-smi and CUDA_VISIBLE_DEVICES"
    return None


def usable_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def create_session(
    model: str | bytes, provider: Provider | str = Provider.auto, threads: int | None = None, name: str | None = None
) -> SessionResult:
    """Create an onnxruntime session for `model` (a path or serialized bytes) on `provider`; `name`
    is the file named in messages (default: `model` when it is a path).

    Raises:
        ProviderError: `cuda` was asked for and cannot run; the message says what is missing.
    """
    import onnxruntime as ort

    provider = Provider(provider)
    check_one_onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: onnxruntime's warnings are not the user's business
    # One thread per CPU this process may use, set explicitly: onnxruntime's own default (0) gave
    # run-to-run swings of up to 60% in median latency on a 2-vCPU machine; explicit counts did not.
    options.intra_op_num_threads = threads or usable_cpus()
    note = ""
    if provider in (Provider.auto, Provider.cuda):
        problem = cuda_unavailable_reason()
        if problem is None:
            session = _session(model, options, [ONNX_PROVIDERS["cuda"], ONNX_PROVIDERS["cpu"]], name)
            if ONNX_PROVIDERS["cuda"] in session.get_providers():
                return SessionResult(session, "cuda", "running on CUDA")
            problem = (
                "onnxruntime could not create the CUDA provider for this model",
                "check that this GPU and driver are supported by your onnxruntime-gpu build",
            )
        reason, fix = problem
        if provider is Provider.cuda:
            raise ProviderError(
                f"`provider` cuda was asked for, but CUDA cannot be used here: {reason}. To fix: {fix}; "
                "or use `provider` cpu (or auto) to run on the CPU."
            )
        note = f"running on CPU (CUDA not available: {reason})"
    if provider in (Provider.auto, Provider.openvino):
        openvino = ONNX_PROVIDERS["openvino"]
        if openvino in ort.get_available_providers():
            settings = {"device_type": "CPU", "num_of_threads": str(options.intra_op_num_threads)}
            session = _session(model, options, [(openvino, settings), ONNX_PROVIDERS["cpu"]], name)
            if openvino in session.get_providers():
                cuda = note.removeprefix("running on CPU ")  # "(CUDA not available: ...)" under auto
                return SessionResult(session, "openvino", "running on OpenVINO (CPU)" + (f" {cuda}" if cuda else ""))
            if provider is Provider.openvino:
                raise ProviderError("`provider` openvino was asked for, but onnxruntime could not start it for this model.")
        elif provider is Provider.openvino:
            raise ProviderError(
                "`provider` openvino was asked for, but this onnxruntime has no OpenVINO provider. To fix: "
                f"{OPENVINO_INSTALL}; or use `provider` cpu (or auto)."
            )
    session = _session(model, options, [ONNX_PROVIDERS["cpu"]], name)
    if ONNX_PROVIDERS["cpu"] not in session.get_providers():
        raise ProviderError(f"onnxruntime did not start the CPU provider (it reports {session.get_providers()})")
    return SessionResult(session, "cpu", note or "running on CPU")


def _session(model: str | bytes, options, providers: list, name: str | None):
    """onnxruntime's session, or one line naming the file when it cannot load it (truncated, not ONNX)."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(model, options, providers=providers)
    except Exception as error:
        if not type(error).__module__.startswith("onnxruntime"):
            raise
        name = name or (model if isinstance(model, str) else "the model")
        first_line = str(error).strip().splitlines()[0][:300]
        raise ModelContractError(f"{name}: onnxruntime cannot load this file as an ONNX model ({first_line})") from None
