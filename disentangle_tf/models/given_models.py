"""Models given to the :class:`~disentangle_tf.models.Disentangler` in place of its own.

Encoders, classifiers and adversaries may be given per task (a list, a dict by task
name, or a factory); these functions check them and read what the model needs from
them, each failure a one-line ``ValueError`` or ``TypeError`` naming the argument.
"""

from __future__ import annotations

import keras


def per_task(argument: str, models, tasks):
    """Models given per task (a list in task order, a dict by task name, or a factory
    called with each :class:`TaskSpec`) as a list in task order, or None."""
    if models is None:
        return None
    names = [task.name for task in tasks]
    if isinstance(models, dict):
        missing = [name for name in names if name not in models]
        if missing or len(models) != len(names):
            raise ValueError(f"{argument}: expected one model per task {names}; got keys {list(models)}")
        models = [models[name] for name in names]
    elif callable(models) and not isinstance(models, keras.Model):
        models = [models(task) for task in tasks]
    else:
        models = list(models)
    if len(models) != len(names):
        raise ValueError(f"{argument}: expected one model per task {names}; got {len(models)}")
    for name, model in zip(names, models):
        if not isinstance(model, keras.Model):
            raise TypeError(f"{argument}: the model of task {name!r} must be a keras.Model; got "
                            f"{type(model).__name__}")
    if len({id(model) for model in models}) != len(models):
        raise ValueError(f"{argument}: every task needs its own model (the same object was given twice)")
    return models


def encoder_input_shape(encoder) -> tuple:
    """``(height, width, channels)`` an encoder declares, or a ValueError asking for it."""
    try:
        shape = tuple(encoder.inputs[0].shape[1:])
    except (AttributeError, IndexError, ValueError):
        shape = ()
    if len(shape) != 3 or any(d is None for d in shape):
        raise ValueError(f"input_shape: encoder {encoder.name!r} does not declare a (height, width, channels) "
                         "input; pass input_shape")
    return shape


def feature_dim(encoder, image_shape, task) -> int:
    """Width of the ``(batch, D)`` features an encoder gives for ``image_shape`` images."""
    output = encoder.compute_output_spec(keras.KerasTensor((None, *image_shape)))
    shape = tuple(output.shape)
    if len(shape) != 2 or shape[-1] is None:
        raise ValueError(
            f"encoders: the encoder of task {task.name!r} maps (batch, {', '.join(map(str, image_shape))}) images "
            f"to shape {shape}; expected (batch, features): end it with a pooling or flattening layer")
    return int(shape[-1])
