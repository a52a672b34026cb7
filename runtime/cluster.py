"""`predict --ray`: classify an archive on a Ray cluster, with the same rows as local predict.

The driver lists the inputs and sends only their paths. Each actor opens one onnxruntime session
from the model's bytes (put once in Ray's object store), reads and decodes its own files on as many
threads as it was given CPUs, and infers in batches; images never pass through the driver. Rows
come back in no fixed order, each input exactly once: Ray restarts an actor that dies and runs its
work again, and the driver drops a row it already has.

Local paths are read by the actors at the same path, so on a cluster of several machines they must
be on a filesystem every node mounts there; `s3://`, `gs://`, ... (any URI pyarrow's filesystems
read, as Ray Data does) are listed on the driver and read by the actors with the credentials each
node has. Ray and pyarrow come with the `ray` extra and are imported only here, only when used.
"""

from __future__ import annotations

import contextlib
import glob
import io
import logging
import math
import os
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, unquote, urlparse

import numpy as np

from edgecls.core.errors import ClusterError, EdgeclsError, ImageError, MissingExtraError
from edgecls.core.limits import MAX_FILE_BYTES
from edgecls.core.text import utf8_text

from .classify import FileResult, classify_files
from .folders import IMAGE_SUFFIXES, REMOTE_PATH
from .images import DEFAULT_MAX_PIXELS, decode_image
from .model import Classifier, open_classifier
from .providers import Provider

logger = logging.getLogger(__name__)

CONNECT_DEADLINE_S = 60.0
RAY_INSTALL = "pip install 'edgecls[ray]' (from a clone: pip install '.[ray]')"
START_A_CLUSTER = "start one with `ray start --head` on the head machine (and `ray start --address=HEAD:6379` on the others)"


def import_ray() -> Any:
    """The `ray` module, or MissingExtraError naming the extra."""
    try:
        import pyarrow  # noqa: F401  - Ray Data's blocks, and the Parquet output
        import ray
        import ray.data  # noqa: F401
    except ImportError as error:
        raise MissingExtraError(
            f"`ray` needs Ray Data, which is not installed ({error.name or error}). Install the ray extra: {RAY_INSTALL}"
        ) from None
    return ray


def connect(address: str, deadline_s: float = CONNECT_DEADLINE_S) -> str:
    """Join the Ray cluster at `address` ("" does what `ray.init()` does: the cluster `ray start`
    runs on this machine, else a private one that stops with this process); returns what was joined,
    in words.

    Raises:
        MissingExtraError: Ray is not installed.
        ClusterError: no cluster answers at `address` within `deadline_s` (one line, the fix named).
    """
    ray = import_ray()
    if ray.is_initialized():
        return _describe(ray)
    if not address and os.environ.get("RAY_ADDRESS"):  # what ray.init() would join
        address = os.environ["RAY_ADDRESS"]
    if not address and (recorded := _recorded_cluster()) is not None:
        try:
            _check_reachable(recorded, min(5.0, deadline_s))
        except ClusterError:  # ray.init() would wait for it in vain
            logger.warning(
                f"the Ray cluster recorded on this machine ({recorded}) does not answer: it stopped without "
                "`ray stop`. Starting a private cluster instead."
            )
            address = "local"
    if address and address not in ("auto", "local"):
        _check_reachable(address, min(10.0, deadline_s))
    where = address if address not in ("", "local") else "this machine"
    timer = threading.Timer(deadline_s, _give_up, args=(f"no Ray cluster answered at {where} within {deadline_s:.0f} s",))
    timer.daemon = True
    timer.start()
    try:
        ray.init(address=address or None, logging_level=logging.ERROR, log_to_driver=False)
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ClusterError(f"cannot join the Ray cluster at {where}: {first[:300].rstrip('.')}. {_fix(address)}") from None
    finally:
        timer.cancel()
    _quiet_ray_data()
    return _describe(ray)


def _recorded_cluster() -> str | None:
    """The address `ray start` recorded on this machine for `ray.init()` to join, if any."""
    try:
        from ray._common.utils import get_ray_address_file

        record = Path(get_ray_address_file(None))
    except (ImportError, AttributeError):  # a Ray that keeps it elsewhere: its documented default
        record = Path("/tmp/ray/ray_current_cluster")
    try:
        return record.read_text().strip() or None
    except OSError:
        return None


def _fix(address: str) -> str:
    if address == "auto":
        return f"`ray` auto joins a cluster started on this machine: {START_A_CLUSTER}, or pass its address: --ray=HEAD:6379."
    return f"Check the address, or {START_A_CLUSTER}."


def _give_up(message: str) -> None:
    """The connect deadline passed with Ray still trying: say so in one line and end the process
    (Ray's connect cannot be interrupted from another thread)."""
    sys.stderr.write(f"error: {message}. Check the address, or {START_A_CLUSTER}.\n")
    sys.stderr.flush()
    os._exit(2)


def _check_reachable(address: str, timeout_s: float) -> None:
    """A quick TCP check of HOST:PORT (or ray://HOST[:PORT]) before Ray's own, which retries for minutes."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    default_port = 10001 if parsed.scheme == "ray" else None
    try:
        host, port = parsed.hostname, parsed.port or default_port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise ClusterError(
            f"`ray` {address!r} is not an address: give HOST:PORT of the head (e.g. 10.0.0.5:6379), ray://HOST:10001, "
            "or auto; or --ray alone for the cluster on this machine."
        )
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as error:
        why = "timed out" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise ClusterError(f"no Ray cluster answers at {host}:{port} ({why}). Check the address, or {START_A_CLUSTER}.") from None


@contextlib.contextmanager
def stdout_for_rows() -> Iterator[TextIO]:
    """A stream on the process's stdout for the rows, while everything else that writes to stdout
    (Ray prints its banner and its workers' failures there, from Python and from C++) goes to stderr."""
    sys.stdout.flush()
    rows = io.TextIOWrapper(os.fdopen(os.dup(1), "wb"), encoding="utf-8", errors="backslashreplace")
    saved_fd, saved_stdout = os.dup(1), sys.stdout
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield rows
    finally:
        rows.flush()
        sys.stdout = saved_stdout
        os.dup2(saved_fd, 1)
        os.close(saved_fd)
        rows.close()


def _quiet_ray_data() -> None:
    from ray.data import DataContext

    logging.getLogger("ray.data").setLevel(logging.ERROR)
    context = DataContext.get_current()
    context.enable_progress_bars = False  # the command shows its own progress, rows as they come
    if hasattr(context, "print_on_execution_start"):
        context.print_on_execution_start = False


def _describe(ray: Any) -> str:
    resources = ray.cluster_resources()
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    gpus = int(resources.get("GPU", 0))
    return f"Ray cluster: {nodes} node(s), {int(resources.get('CPU', 0))} CPU(s)" + (f", {gpus} GPU(s)" if gpus else "")


def shutdown() -> None:
    """Leave the cluster (a private one started by `connect` stops)."""
    ray = import_ray()
    if ray.is_initialized():
        ray.shutdown()


class RemoteFiles:
    """Remote paths (`s3://bucket/key`, `gs://...`, `file:///...`) through pyarrow's filesystems,
    one filesystem object per scheme and host (making one can cost a network round trip)."""

    def __init__(self) -> None:
        self._systems: dict[str, Any] = {}

    def _open(self, uri: str) -> tuple[Any, str, str]:
        """(filesystem, its path for `uri`, the prefix that turns such a path back into a URI)."""
        from pyarrow import fs as pafs

        parsed = urlparse(uri)
        root = f"{parsed.scheme}://{parsed.netloc}"
        if root not in self._systems:
            try:  # pyarrow parses strict URIs: a space or a non-ASCII letter in a key must be escaped for it
                self._systems[root] = pafs.FileSystem.from_uri(quote(uri, safe=":/?#[]@!$&'()*+,;=%"))[0]
            except (OSError, ValueError, NotImplementedError) as error:  # pyarrow's errors derive from these
                raise ImageError(f"{uri}: no filesystem reads this path ({str(error).splitlines()[0][:200]})") from None
        path = unquote(parsed.path)
        if parsed.scheme in ("file", "hdfs", "viewfs"):  # paths without the host
            return self._systems[root], path, root
        return self._systems[root], parsed.netloc + path, f"{parsed.scheme}://"

    def expand(self, uri: str) -> tuple[list[str], list[FileResult]]:
        """The image files a remote path names: itself, or every image under it (sorted, hidden names
        skipped); what cannot be listed as error results."""
        from pyarrow import fs as pafs

        if glob.has_magic(uri):
            return [], [FileResult(uri, error="patterns are not expanded in remote paths: name a folder, or list the files in an @LIST")]
        try:
            system, path, prefix = self._open(uri)
            kind = system.get_file_info(path).type
            if kind == pafs.FileType.NotFound:
                return [], [FileResult(uri, error="not found")]
            if kind != pafs.FileType.Directory:
                return [uri], []
            listed = system.get_file_info(pafs.FileSelector(path, recursive=True))
        except ImageError as error:
            return [], [FileResult(uri, error=str(error).removeprefix(f"{uri}: "))]
        except OSError as error:
            return [], [FileResult(uri, error=f"cannot list ({str(error).splitlines()[0][:200]})")]
        files = sorted(
            prefix + item.path
            for item in listed
            if item.type == pafs.FileType.File
            and not any(part.startswith(".") for part in item.path[len(path) :].split("/"))
            and Path(item.path).suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            return [], [FileResult(uri, error=f"no image files in this folder ({suffixes})")]
        return files, []

    def read(self, uri: str) -> bytes:
        """The bytes of one remote file, with the size checks local files get."""
        try:
            system, path, _ = self._open(uri)
            with system.open_input_file(path) as stream:
                size = stream.size()
                if size == 0:
                    raise ImageError(f"{uri}: empty file (0 bytes)")
                if size > MAX_FILE_BYTES:
                    raise ImageError(f"{uri}: file is {size / 2**20:.0f} MiB, larger than any image edgecls accepts")
                return stream.read()
        except FileNotFoundError:
            raise ImageError(f"{uri}: not found") from None
        except OSError as error:
            raise ImageError(f"{uri}: cannot read ({str(error).splitlines()[0][:200]})") from None


class ClusterClassifier:
    """The work of one actor: a session opened once, then batches of paths in, rows out."""

    def __init__(self, model: Any, name: str, provider: str, batch_size: int, topk: int, max_pixels: int) -> None:
        import ray

        given = ray.get_runtime_context().get_assigned_resources()
        self.threads = max(1, int(given.get("CPU", 1)))
        if not ray.get_gpu_ids():
            os.environ["CUDA_VISIBLE_DEVICES"] = ""  # a GPU on this node that Ray gave to another actor
        model_bytes = ray.get(model) if isinstance(model, ray.ObjectRef) else model
        self.classifier: Classifier = open_classifier(model_bytes, name, provider, threads=self.threads)
        self.batch_size, self.topk, self.max_pixels = batch_size, topk, max_pixels
        self.remote = RemoteFiles()
        self.node = socket.gethostname()

    def __call__(self, batch: dict[str, np.ndarray]) -> Any:
        """Rows for a batch of {index, file (the path as bytes: any name the filesystem holds)}; the
        driver puts each row back under the path the user gave, by its index."""
        import pyarrow as pa

        files = [os.fsdecode(bytes(file)) for file in batch["file"]]
        results = classify_files(
            self.classifier,
            files,
            batch_size=self.batch_size,
            topk=self.topk,
            max_pixels=self.max_pixels,
            workers=self.threads,
            load=self._load,
        )  # in input order
        table = rows_table([self._on_this_node(result) for result in results]).drop_columns(["path"])
        return table.add_column(0, "index", pa.array(batch["index"], pa.int64()))

    def _load(self, file: str) -> np.ndarray:
        if REMOTE_PATH.match(file):
            image = decode_image(self.remote.read(file), name=file, max_pixels=self.max_pixels)
            return self.classifier.prepare(image)
        return self.classifier.load(file, max_pixels=self.max_pixels)

    def _on_this_node(self, result: FileResult) -> FileResult:
        """The row without its path; a local file this node cannot see says why."""
        error = result.error
        if error == "not found" and not REMOTE_PATH.match(result.path):  # the driver found it
            error += f" on node {self.node} (every node reads the paths the driver listed: use a shared filesystem or s3://...)"
        return FileResult("", result.label, result.score, result.topk, None if error is None else utf8_text(error))


@dataclass(frozen=True)
class ActorPlan:
    actors: int
    cpus_each: float
    gpus_each: float
    provider: str  # what each actor opens its session on


def plan_actors(node_cpus: list[float], node_gpus: list[float], provider: Provider | str, workers: int = 0) -> ActorPlan:
    """How many actors, with what each: by default one a CPU (one CPU each), or one a GPU where the
    cluster has GPUs and the provider allows CUDA (the CPUs shared among them). `workers` actors
    share what there is, in fractions where they outnumber it, never asking for more than the
    largest node holds (an actor that fits nowhere would wait for ever).

    Raises:
        ClusterError: CUDA asked for where the cluster has no GPU, or a cluster without CPUs.
    """
    provider = Provider(provider)
    cpus, gpus = sum(node_cpus), sum(node_gpus)
    if provider is Provider.cuda and gpus == 0:
        raise ClusterError("`provider` cuda was asked for, but the Ray cluster offers no GPU. Use `provider` cpu or auto.")
    if cpus == 0:
        raise ClusterError("the Ray cluster offers no CPU to run actors on. Add a node with `ray start --address=HEAD:6379`.")
    on_gpu = provider is Provider.cuda or (provider is Provider.auto and gpus > 0)
    actors = workers or int(gpus if on_gpu else cpus) or 1
    if not workers and not on_gpu:
        return ActorPlan(actors, 1.0, 0.0, provider.value)
    cpus_each = min(cpus / actors, max(node_cpus))
    gpus_each = min(gpus / actors, 1.0, max(node_gpus)) if on_gpu else 0.0
    session = "cuda" if on_gpu else ("cpu" if provider is Provider.cuda else provider.value)
    return ActorPlan(actors, math.floor(cpus_each * 100) / 100, math.floor(gpus_each * 100) / 100, session)


def classify_on_cluster(
    classifier: Classifier,
    inputs: list[str | FileResult],
    *,
    provider: Provider | str = Provider.auto,
    batch_size: int = 16,
    topk: int = 1,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int = 0,
) -> Iterator[FileResult]:
    """Classify `inputs` (from `collect_inputs`) on the cluster `connect` joined: one FileResult per
    input, each exactly once, in the order they finish. `classifier` (opened on the driver, which
    checked its contract) supplies the model's bytes and name; `workers` actors (0: one per CPU of
    the cluster, or one per GPU when the actors run on CUDA).

    Raises:
        ClusterError: the cluster cannot run the work (e.g. a node without edgecls installed).
    """
    ray = import_ray()
    yield from (item for item in inputs if isinstance(item, FileResult))
    paths = [item for item in inputs if isinstance(item, str)]
    if not paths:
        return
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    plan = plan_actors([node.get("CPU", 0) for node in nodes], [node.get("GPU", 0) for node in nodes], provider, workers)
    topk = max(1, min(topk, classifier.info.num_classes))
    rows = [{"index": index, "file": os.fsencode(_absolute(path))} for index, path in enumerate(paths)]
    per_call = max(batch_size, 32)
    dataset = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows) // per_call, 16 * plan.actors)))
    model = ray.put(classifier.path.read_bytes())
    dataset = dataset.map_batches(
        ClusterClassifier,
        fn_constructor_kwargs={
            "model": model,
            "name": str(classifier.path),
            "provider": plan.provider,
            "batch_size": batch_size,
            "topk": topk,
            "max_pixels": max_pixels,
        },
        batch_size=per_call,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=plan.actors),
        num_cpus=plan.cpus_each,
        num_gpus=plan.gpus_each,
    )
    seen = np.zeros(len(paths), dtype=bool)
    try:
        for table in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
            for row in table.to_pylist():
                if seen[row["index"]]:  # work Ray ran again after an actor died
                    continue
                seen[row["index"]] = True
                yield _result(paths[row["index"]], row)
    except EdgeclsError:
        raise
    except Exception as error:  # Ray wraps what went wrong in an actor; its first line says what
        raise ClusterError(f"the Ray job failed: {_first_cause(error).rstrip('.')}. {_install_hint(error)}") from None
    for index in np.flatnonzero(~seen):  # never silent: an input the cluster did not return is a row
        yield FileResult(paths[index], error="the cluster returned no result for this input")


def rows_table(rows: list[FileResult]) -> Any:
    """Results as an Arrow table: path, label, score, topk_labels, topk_scores, error (the Parquet
    output's columns; an error row has only path and error). Text is UTF-8 whatever the names on
    disk (bytes that are not UTF-8 appear as \\xNN, as in predict's JSON)."""
    import pyarrow as pa

    return pa.Table.from_pydict(
        {
            "path": pa.array([utf8_text(row.path) for row in rows], pa.string()),
            "label": pa.array([row.label for row in rows], pa.string()),
            "score": pa.array([row.score for row in rows], pa.float64()),
            "topk_labels": pa.array([[label for label, _ in row.topk] for row in rows], pa.list_(pa.string())),
            "topk_scores": pa.array([[score for _, score in row.topk] for row in rows], pa.list_(pa.float64())),
            "error": pa.array([None if row.error is None else utf8_text(row.error) for row in rows], pa.string()),
        }
    )


def _absolute(path: str) -> str:
    return path if REMOTE_PATH.match(path) else os.path.abspath(path)


def _result(path: str, row: dict) -> FileResult:
    if row["error"] is not None:
        return FileResult(path, error=row["error"])
    topk = list(zip(row["topk_labels"], row["topk_scores"], strict=True))
    return FileResult(path, label=row["label"], score=row["score"], topk=topk)


def _first_cause(error: BaseException) -> str:
    text = str(error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = next((line for line in reversed(lines) if "Error" in line.split(":")[0]), lines[-1] if lines else type(error).__name__)
    return last[:300]


def _install_hint(error: BaseException) -> str:
    if "No module named" in str(error):
        return f"Every node needs edgecls and its runtime installed, the same version as here: {RAY_INSTALL}"
    return "Ray's logs (ray status; /tmp/ray/session_latest/logs on each node) say more."


class ParquetShards:
    """`--out DIR`: the rows as Parquet files of at most `rows_per_file` rows each (path, label,
    score, topk_labels, topk_scores, error), each written whole under a temporary name, then renamed."""

    def __init__(self, folder: Path, rows_per_file: int = 100_000) -> None:
        import_ray()
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ClusterError(
                f"`out` {folder}: {'not a folder' if not folder.is_dir() else 'already holds files'}; "
                "nothing is overwritten. Pass a new or empty folder."
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ClusterError(f"`out` {folder}: cannot create this folder ({error.strerror})") from None
        self.folder, self.rows_per_file = folder, rows_per_file
        self.files: list[Path] = []
        self.rows = 0
        self._pending: list[FileResult] = []

    def write(self, result: FileResult) -> None:
        self._pending.append(result)
        if len(self._pending) >= self.rows_per_file:
            self.flush()

    def flush(self) -> None:
        import pyarrow.parquet as pq

        if not self._pending:
            return
        rows, self._pending = self._pending, []
        table = rows_table(rows)
        target = self.folder / f"part-{len(self.files):05d}.parquet"
        partial = target.with_name(f".{target.name}.partial")
        try:
            pq.write_table(table, partial)
            partial.replace(target)
        except OSError as error:  # a full disk, a folder gone: the rows written so far stay
            partial.unlink(missing_ok=True)
            raise ClusterError(f"`out` {self.folder}: cannot write {target.name} ({str(error).splitlines()[0][:200]})") from None
        self.files.append(target)
        self.rows += len(rows)
