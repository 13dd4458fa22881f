"""TensorFlow's op determinism, as a run found it: a run that turns it on turns it off again.

``tf.config.experimental.enable_op_determinism`` is a switch of the whole process, with
no public way to read it or turn it off in TensorFlow 2.21; TensorFlow's own
``is_op_determinism_enabled`` and ``disable_op_determinism`` (in
``tensorflow.python.framework.config``; ``tests/test_private_names.py`` checks they
exist) do both.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator, TypeVar

Function = TypeVar("Function", bound=Callable)


def op_determinism_enabled() -> bool:
    """Whether TensorFlow's op determinism is on in this process."""
    from tensorflow.python.framework import config

    return bool(config.is_op_determinism_enabled())


def set_op_determinism(enabled: bool) -> None:
    """Turn TensorFlow's op determinism on or off for the whole process."""
    from tensorflow.python.framework import config

    if enabled:
        config.enable_op_determinism()
    else:
        config.disable_op_determinism()


@contextlib.contextmanager
def op_determinism_restored() -> Iterator[None]:
    """Within the block, op determinism may be turned on or off; after it, also when the
    block raises, it is as it was before the block."""
    before = op_determinism_enabled()
    try:
        yield
    finally:
        if op_determinism_enabled() != before:
            set_op_determinism(before)


def restores_op_determinism(function: Function) -> Function:
    """``function`` (a decorator), with op determinism restored after each call, as
    :func:`op_determinism_restored` does; nested calls restore what each found."""

    @functools.wraps(function)
    def restoring(*args, **kwargs):
        with op_determinism_restored():
            return function(*args, **kwargs)

    return restoring
