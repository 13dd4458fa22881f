"""Public names of a package imported on first use (PEP 562), so that importing it stays light."""

from __future__ import annotations

import importlib
from typing import Callable, Mapping


def lazy_exports(package: str, exports: Mapping[str, str], namespace: dict) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` of ``package`` that import ``exports`` on first use.

    Args:
        package: the package's ``__name__``.
        exports: public name -> module that defines it, relative to ``package``, or
            absolute (beginning with the top package's name).
        namespace: the package's ``globals()``; an imported name is stored there, so
            that later lookups do not come back.

    Returns:
        The module-level ``__getattr__`` (``AttributeError`` for any other name) and
        ``__dir__`` to assign in the package's ``__init__``.
    """

    def __getattr__(name: str):
        if name in exports:
            module = exports[name]
            absolute = module.split(".")[0] == package.split(".")[0]
            value = getattr(importlib.import_module(module if absolute else f".{module}", package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
