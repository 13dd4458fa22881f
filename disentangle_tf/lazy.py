"""Public names of a package imported on first use (PEP 562), so that importing it stays light;
and modules that moved, importable by their former names."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
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


class _ModuleAliases(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports a module's former name as the module itself (the same object in ``sys.modules``)."""

    def __init__(self, targets: Mapping[str, str]):
        self.targets = dict(targets)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.targets:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return None  # a placeholder, replaced in sys.modules by exec_module

    def exec_module(self, module):
        # The import system returns what sys.modules holds after this call: the module
        # itself, its attributes (__spec__, __name__) unchanged.
        sys.modules[module.__name__] = importlib.import_module(self.targets[module.__name__])


def alias_moved_modules(package: str, moved: Mapping[str, str]) -> None:
    """Make ``import package.<old>`` import ``package.<new>`` for each moved module.

    The module is not loaded before its former name is imported; then both names are the
    same module object, so that an attribute set through one is seen through the other.

    Args:
        package: the top package's ``__name__``.
        moved: former module name -> current one, both relative to ``package``
            (``{"config": "run.config"}``).
    """
    sys.meta_path.append(_ModuleAliases({f"{package}.{old}": f"{package}.{new}" for old, new in moved.items()}))
