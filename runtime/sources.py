"""What a `source` names (a camera index, a device, a video file or a stream URL), its secrets read
from the environment, and how it may be shown: credentials masked."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from edgecls.core.errors import StreamError

NETWORK_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://", "srt://")


@dataclass(frozen=True)
class SourceSpec:
    """A parsed `source`: kind is 'camera', 'device', 'file' or 'network'."""

    kind: str
    target: int | str

    @property
    def live(self) -> bool:
        return self.kind != "file"

    def __str__(self) -> str:
        return f"camera {self.target}" if self.kind == "camera" else mask_credentials(str(self.target))


_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^?#]*)(.*)$", re.S)
# Query parameters that carry a secret: password, pass, passwd, pwd, token, access_token, key, api_key,
# secret, auth, authorization, sig, signature ...
_SECRET_PARAMETER = re.compile(r"([?&;][^=&;#]*(?:pass|pwd|token|key|secret|auth|sig)[^=&;#]*=)[^&;#]*", re.I)


def mask_credentials(url: str) -> str:
    """A URL as it may be printed, logged or served: rtsp://user:secret@host/... ->
    rtsp://user:***@host/..., a password with @ or / in it included (everything up to the last @
    before the query), a token alone (http://TOKEN@host -> http://***@host), and the values of
    query parameters that carry secrets (?password=, token, key, auth, ...)."""
    match = _URL.match(url)
    if match is None:
        return url
    scheme, rest, tail = match.groups()
    userinfo, at, host = rest.rpartition("@")
    # host/path@x has no credentials; user:p@ss/word@host has (a colon before the last @), as has TOKEN@host.
    if at and (":" in userinfo or "/" not in userinfo):
        user, colon, _ = userinfo.partition(":")
        rest = (f"{user}:***@" if colon else "***@") + host
    return scheme + rest + _SECRET_PARAMETER.sub(r"\1***", tail)


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_environment(text: str, what: str) -> str:
    """`text` with every ${NAME} replaced by the environment variable NAME, so that a password need not
    be written on the command line (where `ps` shows it) or in a shared config file:
    `rtsp://admin:${CAM_PASSWORD}@10.0.0.5/stream`.

    Raises:
        StreamError: a variable that is not set, naming `what` (the option) and the variable.
    """

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise StreamError(
                f"`{what}` {mask_credentials(text)} uses ${{{name}}}, and the environment variable {name} is not set. "
                f"Set it before starting (export {name}=...), e.g. in the service's environment file."
            )
        return os.environ[name]

    return _VARIABLE.sub(value, text)


def parse_source(source: str) -> SourceSpec:
    """Camera index ('0'), device path ('/dev/video0'), stream URL, or video file; ${NAME} is read
    from the environment (see `expand_environment`).

    Raises:
        StreamError: a file or device path that does not exist, or a variable that is not set.
    """
    text = expand_environment(source.strip(), "source")
    if text.isdigit():
        return SourceSpec("camera", int(text))
    if text.lower().startswith(NETWORK_SCHEMES):
        return SourceSpec("network", text)
    path = Path(text)
    if text.startswith("/dev/"):
        if not path.exists():
            raise StreamError(f"`source` {text}: no such device. List cameras with `ls /dev/video*`.")
        return SourceSpec("device", text)
    if not path.is_file():
        raise StreamError(
            f"`source` {text}: no such file. Pass a video file, a camera index like 0, a device like "
            "/dev/video0, or a stream URL (rtsp://..., http://...)."
        )
    return SourceSpec("file", text)
