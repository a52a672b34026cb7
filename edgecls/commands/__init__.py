"""The typer commands, one module each: flags in, one library call, results out."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any, TypeVar

Config = TypeVar("Config")


def config_from(cls: type[Config], arguments: dict[str, Any], **overrides: Any) -> Config:
    """A library config (`cls`, a dataclass) from a command's arguments: every argument named like
    one of its fields (a choice by its value; the command's other arguments are not the config's),
    then `overrides` for the ones the shell converts, each of which must be a field.

    Raises:
        TypeError: an override that names no field of `cls` (a misspelt name would be lost).
    """
    names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(unknown)}")
    values = {name: value.value if isinstance(value, Enum) else value for name, value in arguments.items()}
    return cls(**{name: value for name, value in {**values, **overrides}.items() if name in names})
