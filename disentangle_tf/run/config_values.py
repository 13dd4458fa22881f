"""One configuration value checked against its field's annotated type, and the sizes a value may
name (no TensorFlow here)."""

from __future__ import annotations

import math
import typing
from typing import Any

from ..errors import ConfigError

_STRING_OR_LIST = frozenset({"test_split"})
"""List keys that also accept a single string."""


def one_string_as_list(key: str, value: Any) -> Any:
    """``value`` of ``key`` with one string read as a list of it, for the list keys that
    accept a single string (``test_split``, as older configuration files and runs record
    it); any other value as it is."""
    return [value] if key in _STRING_OR_LIST and isinstance(value, str) else value


def coerce(key: str, value: Any, section_cls: type, source: str) -> Any:
    """``value`` checked against the annotated type of field ``key`` of ``section_cls``.

    Args:
        key: the field's name.
        value: the value read (from a file or an option); a list stands for a tuple.
        section_cls: the dataclass the field belongs to.
        source: what to call the value's origin in error messages (a file name).

    Returns:
        The value as the field's type (a float for an int given to a float field, a
        tuple for a list).

    Raises:
        ConfigError: naming ``source``, ``key`` and the type expected.
    """
    hint = typing.get_type_hints(section_cls)[key]
    origin = typing.get_origin(hint)
    expected = describe_type(hint)
    if key in _STRING_OR_LIST:
        # One string is a list of one (older configuration files); empty values name nothing.
        value = one_string_as_list(key, value)
        if isinstance(value, (list, tuple)):
            value = [item for item in value if not (isinstance(item, str) and not item.strip())]
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key} must be {expected}; got {value!r}")
        item_type = typing.get_args(hint)[0]
        items = tuple(_coerce_scalar(key, item, item_type, expected, source) for item in value)
        args = typing.get_args(hint)
        if args[-1] is not Ellipsis and len(items) != len(args):
            raise ConfigError(f"{source}: {key} must be {expected}; got {value!r}")
        return items
    return _coerce_scalar(key, value, hint, expected, source)


def _coerce_scalar(key: str, value: Any, kind: type, expected: str, source: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    raise ConfigError(f"{source}: {key} must be {expected}; got {value!r}")


def describe_type(hint: Any) -> str:
    """A configuration type in words: ``an integer``, ``a list of int``, ``a list of 2 int``."""
    if typing.get_origin(hint) is tuple:
        args = typing.get_args(hint)
        name = args[0].__name__
        if args[-1] is Ellipsis:
            return f"a list of {name}"
        return f"a list of {len(args)} {name}"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[hint]


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def memory_budget_bytes(text) -> int | None:
    """``memory_budget`` in bytes: None for ``"unlimited"``, half the memory for ``"auto"``.

    Raises:
        ValueError: naming memory_budget and what it expects.
    """
    value = str(text).strip().lower()
    if value == "unlimited":
        return None
    if value == "auto":
        from ..data.streaming import default_memory_budget

        return default_memory_budget()
    number = value.rstrip("kmgtib")
    unit = value[len(number):].strip()
    try:
        amount = float(number)
    except ValueError:
        amount = float("nan")
    if unit not in _UNITS or not math.isfinite(amount) or amount < 0:
        raise ValueError(f"memory_budget must be auto, unlimited or a size such as 8GiB, 500MB or a number of "
                         f"bytes; got {text!r}")
    return int(amount * _UNITS[unit])
