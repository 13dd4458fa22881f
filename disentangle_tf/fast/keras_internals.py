"""Keras's private names that the fast paths read, checked before each use, and a public
walk of a model's layers.

Keras documents no way to reach an optimizer's slot variables (the moments that Adam and
SGD keep for each variable). The fused optimizers (:mod:`~disentangle_tf.fast.optimizers`)
and the factored adversary updates (:mod:`~disentangle_tf.fast.factored_adversary_updates`)
read them through Keras's private method :data:`VARIABLE_INDEX` and the slot lists
:data:`ADAM_SLOTS` and :data:`SGD_SLOTS`. A Keras release without one of them does not stop
training: the fast path that needs it steps aside for Keras's own update (the same result,
slower), and the process gets one :class:`KerasInternalsWarning` naming what is missing.
``tests/test_private_names.py`` checks that every name exists in the installed Keras.
"""

from __future__ import annotations

import warnings

import keras

#: The optimizer method giving a variable's position in the optimizer's slot lists.
VARIABLE_INDEX = "_get_variable_index"

#: The slot lists of ``keras.optimizers.Adam``: first and second moments.
ADAM_SLOTS = ("_momentums", "_velocities")

#: The slot list of ``keras.optimizers.SGD`` with momentum.
SGD_SLOTS = ("momentums",)

#: The names found missing so far in this process; each is warned of once.
warned: set[str] = set()


class KerasInternalsWarning(UserWarning):
    """A private Keras name that a fast path reads is missing: Keras's own computation runs instead."""


def readable(instance, *names: str) -> bool:
    """Whether ``instance`` has every attribute in ``names``.

    For the missing ones not warned of yet in this process, one
    :class:`KerasInternalsWarning` names them; a fast path that gets False uses Keras's
    own computation instead.
    """
    missing = [name for name in names if not hasattr(instance, name)]
    new = [name for name in missing if name not in warned]
    if new:
        warned.update(new)
        owner = next((cls.__name__ for cls in type(instance).__mro__ if cls.__module__.startswith("keras")),
                     type(instance).__name__)
        listed = ", ".join(f"{owner}.{name}" for name in new)
        warnings.warn(
            f"Keras {keras.__version__} has no {listed}: the package's fast paths that read it use Keras's "
            "own computation instead (the same results, slower)", KerasInternalsWarning, stacklevel=3)
    return not missing


def slots_readable(optimizer, slots: tuple[str, ...]) -> bool:
    """Whether the installed Keras lets :func:`slot_variables` read ``slots`` of ``optimizer``
    (:data:`VARIABLE_INDEX` and the slot lists): :func:`readable`, one warning for what is missing."""
    return readable(optimizer, VARIABLE_INDEX, *slots)


def slot_variables(optimizer, slots: tuple[str, ...], variable) -> list | None:
    """``optimizer``'s slot variables of ``variable``, one per name in ``slots``, in that order.

    None if the installed Keras lacks :data:`VARIABLE_INDEX` or one of the slot lists
    (warned of once, :func:`readable`).
    """
    if not slots_readable(optimizer, slots):
        return None
    index = getattr(optimizer, VARIABLE_INDEX)(variable)
    return [getattr(optimizer, slot)[index] for slot in slots]


def layers_within(layer) -> list:
    """Every layer inside ``layer`` (not ``layer`` itself), each once, parents before the
    layers they hold.

    Inside a model, its layers (``keras.Model.layers``); inside any other layer, the
    layers its attributes hold, alone or in a list, tuple or dict. These are the layers
    Keras tracks (its private ``Layer._flatten_layers``), but for input layers, which a
    model may list or not.
    """
    found, seen = [], {id(layer)}

    def visit(node):
        for child in _held_layers(node):
            if id(child) not in seen:
                seen.add(id(child))
                found.append(child)
                visit(child)

    visit(layer)
    return found


def _held_layers(layer) -> list:
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    held = []
    for value in vars(layer).values():
        if isinstance(value, dict):
            value = list(value.values())
        values = value if isinstance(value, (list, tuple)) else [value]
        held += [v for v in values if isinstance(v, keras.layers.Layer)]
    return held
