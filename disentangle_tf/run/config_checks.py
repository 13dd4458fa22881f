"""The checks of a whole run configuration: each value's range or choice, as the table of
options declares it (:mod:`disentangle_tf.run.options`), and the keys that go together, judged
once all the values are known (no TensorFlow here)."""

from __future__ import annotations

import math
from typing import Any, Mapping

from ..errors import ConfigError
from .options import OPTIONS, option_name  # noqa: F401  (option_name imported from here too)

#: The keys whose values :func:`check_configuration` judges together: a file may give one
#: and the command line the other, so they are checked once, on the merged configuration.
CROSS_KEY_CHECKS = (("dataset", "data"), ("encoder_filters", "encoder_strides"), ("image_size", "encoder_strides"))

#: The source of values given as command-line options
#: (:meth:`~disentangle_tf.run.config.RunConfig.from_flat_dict`).
COMMAND_LINE = "command line"


def check_each(values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    """Check each of ``values`` on its own: its choices, range and further check (as
    :func:`check_configuration` does on a whole configuration). For values an option
    replaces before the whole is judged (``--set epochs=-1`` beside ``--epochs 2``): a bad
    value typed on the command line is refused even where it would not be used.

    Raises:
        ConfigError: one line naming the value's source (``sources[key]``), the key and what was expected.
    """
    by_key = {option.key: option for option in OPTIONS}
    for key, value in values.items():
        option = by_key[key]
        error = option.choice_error(value) or option.range_error(value) or option.check_error(value)
        if error is not None:
            raise ConfigError(f"{sources[key]}: {error}")


def check_configuration(flat: Mapping[str, Any], source: str = "config",
                        sources: Mapping[str, str] | None = None) -> None:
    """Check a whole configuration: each value's choices, range and further check of its
    :class:`~disentangle_tf.run.options.Option`, then the keys that depend on each other
    (:data:`CROSS_KEY_CHECKS`).

    Args:
        flat: every key's value (:meth:`~disentangle_tf.run.config.RunConfig.to_flat_dict`).
        source: what to call the values' origin in error messages (a file name).
        sources: where particular keys' values came from (a file name, or
            :data:`COMMAND_LINE`). An error about keys of several sources names each
            (``deep.yaml and --image-size: image_size ...``); keys without one are
            ``source``'s, named only when no key of the error has its own.

    Raises:
        ConfigError: one line naming the source(s), the key and what was expected.
    """

    def origin(*keys: str) -> str:
        # The sources of the error's keys; values given as options are named by their
        # option when the error has several sources (alone, "command line: key ...").
        named = {key: sources[key] for key in keys if sources and key in sources}
        if len(set(named.values())) == 1:
            return next(iter(named.values()))
        labels = (option_name(key) if label == COMMAND_LINE else label for key, label in named.items())
        return " and ".join(dict.fromkeys(labels)) or source

    for key, value in flat.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{origin(key)}: {key} must be a finite number; got {value}")
    for option in OPTIONS:
        error = option.choice_error(flat[option.key])
        if error is not None:
            raise ConfigError(f"{origin(option.key)}: {error}")
    if flat["dataset"] in ("csv", "hdf5") and not flat["data"]:
        raise ConfigError(f"{origin('dataset', 'data')}: the {flat['dataset']} data set needs a file: pass --data "
                          "(or set data in the config file)")
    for option in OPTIONS:
        error = option.range_error(flat[option.key])
        if error is not None:
            raise ConfigError(f"{origin(option.key)}: {error}")
    for option in OPTIONS:
        error = option.check_error(flat[option.key])
        if error is not None:
            raise ConfigError(f"{origin(option.key)}: {error}")
    _check_read_by_dataset(flat, sources or {})
    if len(flat["encoder_filters"]) != len(flat["encoder_strides"]):
        raise ConfigError(
            f"{origin('encoder_filters', 'encoder_strides')}: encoder_filters and encoder_strides must have "
            "the same length; "
            f"got {len(flat['encoder_filters'])} and {len(flat['encoder_strides'])}"
        )
    downsampling = 1
    for stride in flat["encoder_strides"]:
        downsampling *= stride
    if min(flat["image_size"]) < downsampling:
        raise ConfigError(
            f"{origin('image_size', 'encoder_strides')}: image_size {tuple(flat['image_size'])} is smaller "
            "than the encoder's "
            f"total stride {downsampling}; expected each side >= {downsampling}"
        )


def _check_read_by_dataset(flat: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    # A key that the chosen data set does not read (Option.datasets), given on the command
    # line or by --set, or set by a file to other than its default, would be ignored
    # without a word (--data beside the default synthetic data set): refused instead. A
    # run's config.json lists every key: its defaults pass.
    dataset = flat["dataset"]
    for option in OPTIONS:
        source = sources.get(option.key)
        if not option.datasets or dataset in option.datasets or source is None or source.startswith("method "):
            continue
        typed = source == COMMAND_LINE or source.startswith("--")
        if not typed and _plain(flat[option.key]) == _plain(option.default):
            continue
        label = option.option if source == COMMAND_LINE else source if typed else f"{source}: {option.key}"
        hint = "leave it out" if "dataset" in sources else "choose the data set with --dataset"
        raise ConfigError(f"{label}: only with the {' or '.join(option.datasets)} data set; got {dataset} ({hint})")


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, (list, tuple)) else value
