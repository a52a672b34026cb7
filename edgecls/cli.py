"""The `edgecls` command line: a thin typer shell, one module per command under `edgecls.commands`."""

from __future__ import annotations

import functools
import inspect
import os
import re
import sys
import typing
from collections.abc import Callable

import typer

from edgecls import __version__
from edgecls.core.errors import EdgeclsError
from edgecls.core.text import printable

from .console import shell_text, use_flags

app = typer.Typer(
    name="edgecls",
    help="Train, export and run image classifiers on edge devices (Keras -> ONNX -> onnxruntime).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # help text as written: [[camera]] and [x, y, w, h] are not markup
)


def user_errors(command: Callable, *runs: Callable) -> Callable:
    """Turn an EdgeclsError into one line on stderr and its exit code, naming the command's flags where
    the library names its parameters (and those of the commands it `runs`, as the demo runs train and
    export); Ctrl-C into exit 130."""
    flags = {name: flag for other in runs for name, flag in _options(other).items()} | _options(command)

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        use_flags(flags)
        try:
            return command(*args, **kwargs)
        except EdgeclsError as error:
            print(f"error: {printable(shell_text(str(error)), keep_newlines=True)}", file=sys.stderr)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper


def _options(command: Callable) -> dict[str, str]:
    """A typer command's options, parameter name -> flag (`val_split` -> --val-split, or the flag it
    declares); positional arguments are not options."""
    hints = typing.get_type_hints(command, include_extras=True)
    flags = {}
    for name in inspect.signature(command).parameters:
        for meta in getattr(hints[name], "__metadata__", ()):
            if isinstance(meta, typer.models.OptionInfo):
                declared = [decl for decl in meta.param_decls or () if decl.startswith("--")]
                flags[name] = declared[0] if declared else "--" + name.replace("_", "-")
    return flags


def _version(value: bool) -> None:
    if value:
        print(f"edgecls {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Train, export and run image classifiers on edge devices."""
    from edgecls.runtime.images import quiet_opencv_logs

    from .console import configure_shell_output

    quiet_opencv_logs()
    configure_shell_output()
    # Results are UTF-8 whatever the locale (JSON Lines must be); anything unencodable is escaped
    # rather than ending the run with UnicodeEncodeError.
    for stream, encoding in ((sys.stdout, "utf-8"), (sys.stderr, None)):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace", **({"encoding": encoding} if encoding else {}))


def _register() -> None:
    from .commands import bench, data, demo, export, info, predict, serve_camera, train

    app.command(name="train")(user_errors(train.train))
    app.command(name="export")(user_errors(export.export))
    app.command(name="info")(user_errors(info.info))
    app.command(name="predict")(user_errors(predict.predict))
    app.command(name="serve-camera")(user_errors(serve_camera.serve_camera))
    app.command(name="bench")(user_errors(bench.bench))
    for command in data.app.registered_commands:
        if command.callback is not None:
            command.callback = user_errors(command.callback)
    app.add_typer(data.app, name="data")
    app.command(name="demo")(user_errors(demo.demo, train.train, export.export))


def _bound_decoder() -> None:
    """OpenCV reads its decode limit once, when it loads: set it from --max-pixels before any command
    module imports it."""
    from edgecls.core.limits import bound_opencv_decoder, max_pixels_from_argv

    limit = max_pixels_from_argv(sys.argv[1:])
    if limit is None:
        bound_opencv_decoder()
    else:
        bound_opencv_decoder(limit, override=True)


RAY_ADDRESS = re.compile(r"^(auto|ray://\S+|\[?[\w.:-]*\]?:\d+)$")


def ray_address_in_argv(argv: list[str]) -> list[str]:
    """`predict --ray` takes an optional address, which click cannot parse: `--ray` alone becomes
    `--ray=` (the cluster on this machine) and `--ray ADDRESS` becomes `--ray=ADDRESS` when the next
    argument is an address (auto, HOST:PORT, ray://...), never an input."""
    if "predict" not in argv:
        return argv
    end = argv.index("--") if "--" in argv else len(argv)
    result = list(argv[:end])
    for position in range(len(result) - 1, argv.index("predict"), -1):
        if result[position] == "--ray":
            following = result[position + 1] if position + 1 < len(result) else ""
            if RAY_ADDRESS.match(following) and not os.path.exists(following):
                result[position : position + 2] = [f"--ray={following}"]
            else:
                result[position] = "--ray="
    return result + list(argv[end:])


_bound_decoder()
sys.argv[1:] = ray_address_in_argv(sys.argv[1:])
_register()


if __name__ == "__main__":
    app()
