"""Public names of a package imported on first use (PEP 562), so that importing it stays light;
and the modules kept at the former paths of modules that moved."""

from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType
from typing import Callable, Mapping, Sequence


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


def lazy_package(namespace: dict, modules: Mapping[str, Sequence[str]]) -> None:
    """Make a package's public names import on first use: its ``__all__``, ``__getattr__`` and ``__dir__``.

    Args:
        namespace: the package's ``globals()`` (its ``__name__`` is read there); the
            three names are set in it.
        modules: module -> the public names it defines, each module relative to the
            package or absolute, as in :func:`lazy_exports`.

    Raises:
        ValueError: if a name is given for two modules.
    """
    exports = {}
    for module, names in modules.items():
        for name in names:
            if exports.setdefault(name, module) != module:
                raise ValueError(f"{namespace['__name__']}: {name!r} is given for {exports[name]!r} and {module!r}")
    namespace["__all__"] = sorted(exports)
    namespace["__getattr__"], namespace["__dir__"] = lazy_exports(namespace["__name__"], exports, namespace)


def moved_module(former_name: str, module: ModuleType) -> None:
    """Make the module ``former_name`` be ``module``: called by a module kept at a former path.

    Emits one ``DeprecationWarning`` naming both paths, attributed to the line that
    imported the former name; then ``sys.modules[former_name]`` is ``module`` itself, so
    that the import gives the same module object as the current path (an attribute set
    through one name is seen through the other) and a later import of the former name
    warns no more.

    Args:
        former_name: the calling module's ``__name__`` (``disentangle_tf.config``).
        module: the module now at the current path (:mod:`disentangle_tf.run.config`).
    """
    warnings.warn(f"{former_name} is now {module.__name__}; import that instead ({former_name} "
                  "is removed in the next release)", DeprecationWarning, stacklevel=3)
    sys.modules[former_name] = module
