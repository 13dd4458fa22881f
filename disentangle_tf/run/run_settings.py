"""A run's configuration: defaults, then a named method's settings, a file, then options.

The one place where the train, convert and reproduce commands turn what the user gave
into a checked :class:`~disentangle_tf.run.config.RunConfig`.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from .config import ConfigError, RunConfig, load_config_file
from .methods import GRID_KEYS, get_method


def resolve_config(config_file: str | None, options: Mapping[str, Any], method: str | None = None,
                   defaults: Mapping[str, Any] | None = None) -> RunConfig:
    """The package's defaults, overridden by ``defaults``, the method's settings, the
    config file, then the options given (None values are options not given). A relative
    ``data`` or ``image_root`` path is made absolute from the current directory.

    Args:
        config_file: a YAML or JSON file of flat settings, or None.
        options: command-line options by configuration key.
        method: a name of :data:`~disentangle_tf.run.methods.METHODS`, or None.
        defaults: the command's own defaults (reproduce's ``scale``), or None.

    Raises:
        ConfigError: for an unknown method, one whose setting is a grid that neither
            the config file nor the options fix, or a bad value (naming its source).
    """
    values = RunConfig().replace(defaults or {}).to_flat_dict()
    if method is not None:
        try:
            values.update(get_method(method).settings)
        except ValueError as error:
            raise ConfigError(f"--method: {error}") from None
    if config_file is not None:
        values.update(load_config_file(config_file))
    given = {key: value for key, value in options.items() if value is not None}
    for key in GRID_KEYS:
        if isinstance(values[key], list):
            if key not in given:
                raise ConfigError(
                    f"--method {method}: {key} is a grid {values[key]}; choose one value with "
                    f"{option_name(key)} (python -m disentangle_tf.reproduce selects it)")
            values[key] = given[key]
    config = RunConfig.from_flat_dict(values, source=config_file or (f"method {method}" if method else "defaults"))
    if given:
        try:
            config = config.replace(given, source="command line")
        except ConfigError as error:
            raise ConfigError(_as_option(str(error), given)) from None
    # Files by absolute path (from the current directory), so that the run's config.json
    # is a valid --config file wherever it is used.
    paths = {key: os.path.abspath(getattr(config.data, key)) for key in ("data", "image_root")
             if getattr(config.data, key) and not os.path.isabs(getattr(config.data, key))}
    return config.replace(paths, source="command line") if paths else config


#: Configuration keys whose command-line option is not ``--`` and the key with dashes.
_OPTION_NAMES = {"tasks": "--task"}


def option_name(key: str) -> str:
    """The command-line option of configuration key ``key`` (``batch_size``: ``--batch-size``)."""
    return _OPTION_NAMES.get(key, "--" + key.replace("_", "-"))


def _as_option(message: str, given: Mapping[str, Any]) -> str:
    """``message`` about a value given on the command line, naming the option as typed
    (``command line: epochs must be >= 1`` becomes ``--epochs must be >= 1``)."""
    prefix = "command line: "
    if message.startswith(prefix):
        key = message[len(prefix):].split(" ", 1)[0]
        if key in given:
            return option_name(key) + message[len(prefix) + len(key):]
    return message
