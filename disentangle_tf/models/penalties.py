"""The independence penalty of Eq. 1 by name: the registry's entries and import paths.

An independence penalty measures how much one task's features depend on another task's
label within each class of the features' own task; Eq. 1 adds ``independence_weight``
times its sum over the ordered pairs of tasks. ``independence_penalty`` names it: a key
of :data:`~disentangle_tf.models.defaults.INDEPENDENCE_PENALTIES` (``"hsic"``, the
default, or ``"coral"``), or the import path ``"package.module:function"`` of a function
of one's own with the same arguments::

    def penalty(features, other_labels, own_labels, num_own_classes, num_other_classes, mask=None):
        # features (N, D) float; labels (N,) int; mask (N,) 0/1 or None -> float32 scalar

A penalty that also takes ``bandwidth`` receives ``independence_bandwidth``
(:func:`~disentangle_tf.models.objectives.conditional_hsic` does). docs/add_a_method.rst
shows a new penalty added as one file and one line.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re

from .defaults import INDEPENDENCE_PENALTIES

_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def check_penalty_name(name) -> None:
    """Check, without importing anything, that ``name`` is a registered penalty or an import path.

    Raises:
        ValueError: one line naming the registered penalties and the path form.
    """
    if not isinstance(name, str) or (name not in INDEPENDENCE_PENALTIES and not _PATH.match(name)):
        raise ValueError(f"independence_penalty must be one of {', '.join(INDEPENDENCE_PENALTIES)} or an "
                         f"import path 'package.module:function'; got {name!r}")


@functools.lru_cache(maxsize=None)
def get_penalty(name: str, bandwidth: str = "class"):
    """The penalty called ``name``, as a function ``(features, other_labels, own_labels,
    num_own_classes, num_other_classes, mask=None) -> float32 scalar``.

    Args:
        name: a key of :data:`~disentangle_tf.models.defaults.INDEPENDENCE_PENALTIES` or
            ``"package.module:function"``.
        bandwidth: passed on to a penalty that takes a ``bandwidth`` argument.

    Raises:
        ValueError: one line, for a name neither registered nor a path, a module that
            cannot be imported, or a path that does not name a function.
    """
    check_penalty_name(name)
    path = INDEPENDENCE_PENALTIES.get(name, name)
    module_name, function_name = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"independence_penalty {name!r}: cannot import {module_name!r} ({error})") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ValueError(f"independence_penalty {name!r}: {module_name!r} has no function {function_name!r}")
    if "bandwidth" in inspect.signature(function).parameters:
        return functools.partial(function, bandwidth=bandwidth)
    return function
