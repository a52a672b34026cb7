"""Text made safe to show: names from disk (not always UTF-8) and from model files (not always
printable) pass through here before they reach a terminal, a table, a CSV cell or a JSON line."""

from __future__ import annotations

import re

# Control characters, and the invisible marks that reorder text (bidirectional overrides, isolates,
# direction marks): a name with one can show as another name.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\x1b"}


def utf8_text(text: str) -> str:
    """`text` as valid UTF-8 text: bytes that were not UTF-8 on disk (which Python keeps as lone
    surrogates) become \\xNN escapes."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def printable(text: str, keep_newlines: bool = False) -> str:
    """`text` safe for a terminal, a table or a CSV cell: valid UTF-8 (see `utf8_text`), and control
    characters (escape sequences, tabs, newlines unless `keep_newlines`) shown as \\n, \\t, \\xNN, so a
    file or class name can neither forge a row nor drive the terminal."""
    if keep_newlines:
        return "\n".join(printable(line) for line in text.split("\n"))

    def escape(match: re.Match) -> str:
        code = ord(match.group())
        return _NAMED.get(match.group(), f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")

    return _CONTROL.sub(escape, utf8_text(text))


def shown(value: object, limit: int = 200) -> str:
    """A value from a file (a model's metadata, a config) as a message may quote it: printable, and
    cut at `limit` characters, so a 50 MB value is never echoed."""
    text = printable(str(value)[: limit + 1])
    return text if len(text) <= limit else text[:limit] + "..."
