"""A run's configuration: defaults, then a named method's settings, a file, ``--set``
options, then the named options.

The one place where the train, convert and reproduce commands turn what the user gave
into a checked :class:`~disentangle_tf.run.config.RunConfig`.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Any, Mapping, Sequence

import yaml

from .config import COMMAND_LINE, ConfigError, RunConfig, load_config_file, option_name
from .config_checks import check_each
from .methods import GRID_KEYS, get_method

#: The option that sets any configuration key: ``--set KEY=VALUE``, repeatable.
SET_OPTION = "--set"


class _ValueLoader(yaml.SafeLoader):
    """YAML's safe loader that also reads ``1e-3`` as a number (YAML 1.2 does; PyYAML
    wants a dot), as the named options do."""


_ValueLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def parse_settings(texts: Sequence[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``--set KEY=VALUE`` options as configuration values, each value read as YAML
    (``epochs=3``: 3, ``image_size=[32,32]``: a list, ``flip=false``: False,
    ``dataset=csv``: a string); a key given twice takes its last value.

    Args:
        texts: the options' values as typed, ``KEY=VALUE`` each (dashes in ``KEY`` read
            as underscores).

    Returns:
        ``(values, sources)``: the values by key, not yet checked against the keys'
        types, and each key's option as typed (``--set epochs=3``), for error messages.

    Raises:
        ConfigError: one line naming the option, for a text without ``=`` or a key, an
            unknown key, or a value that is not YAML.
    """
    keys = RunConfig().to_flat_dict()
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for text in texts:
        raw_key, equals, raw_value = text.partition("=")
        key = raw_key.strip().replace("-", "_")
        if not equals or not key:
            raise ConfigError(f"{SET_OPTION} {text!r}: expected KEY=VALUE, a configuration key and its value "
                              f"(--set epochs=3, --set image_size=[32,32])")
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{SET_OPTION} {text}: unknown key {raw_key.strip()!r}{hint}; expected one of: "
                              + ", ".join(sorted(keys)))
        try:
            values[key] = yaml.load(raw_value, Loader=_ValueLoader)
        except yaml.YAMLError as error:
            first_line = str(error).splitlines()[0]
            raise ConfigError(f"{SET_OPTION} {text}: the value is not YAML ({first_line})") from None
        sources[key] = f"{SET_OPTION} {text}"
    return values, sources


def resolve_config(config_file: str | None, options: Mapping[str, Any], method: str | None = None,
                   defaults: Mapping[str, Any] | None = None, set_options: Sequence[str] = ()) -> RunConfig:
    """The configuration of :func:`resolve_config_and_given`, without the given keys."""
    return resolve_config_and_given(config_file, options, method, defaults, set_options)[0]


def resolve_config_and_given(config_file: str | None, options: Mapping[str, Any], method: str | None = None,
                             defaults: Mapping[str, Any] | None = None,
                             set_options: Sequence[str] = ()) -> tuple[RunConfig, frozenset[str]]:
    """The package's defaults, overridden by ``defaults``, the method's settings, the
    config file, the ``--set`` options, then the named options given (None values are
    options not given), checked once, as a whole: a file may leave to the options what
    it lacks (``dataset: csv`` and ``--data``), and keys that depend on each other are
    judged on the merged values. A relative ``data`` or ``image_root`` path is made
    absolute from the current directory.

    Args:
        config_file: a YAML or JSON file of flat settings, or None.
        options: command-line options by configuration key.
        method: a name of :data:`~disentangle_tf.run.methods.METHODS`, or None.
        defaults: the command's own defaults (reproduce's ``scale``), or None.
        set_options: the ``--set KEY=VALUE`` options as typed (:func:`parse_settings`).

    Returns:
        The configuration, and the keys the user gave (those of the config file, of the
        ``--set`` options and of the named options given), which replace a method's
        settings, a selection grid's included.

    Raises:
        ConfigError: for an unknown method, one whose setting is a grid that neither
            the config file nor the options fix, a malformed ``--set`` or an unknown
            key, or a bad value: one line naming its source, the file and key or the
            option as typed (an error about values of several sources names each).
    """
    values = RunConfig().replace(defaults or {}).to_flat_dict()
    sources: dict[str, str] = {}
    if method is not None:
        try:
            settings = get_method(method).settings
        except ValueError as error:
            raise ConfigError(f"--method: {error}") from None
        values.update(settings)
        sources.update({key: f"method {method}" for key in settings})
    user_keys: set[str] = set()  # those of the file, --set and the options: they replace the method's
    if config_file is not None:
        # Each key and type of the file is checked here, even those an option replaces;
        # ranges and keys that go together are judged once, on the merged values.
        in_file = RunConfig.checked_values(load_config_file(config_file), source=config_file)
        values.update(in_file)
        sources.update({key: config_file for key in in_file})
        user_keys.update(in_file)
    set_values, set_sources = parse_settings(set_options)
    set_values = RunConfig.checked_values(set_values, sources=set_sources)
    values.update(set_values)
    sources.update(set_sources)
    given = {key: value for key, value in options.items() if value is not None}
    user_keys.update(set_values, given)
    for key in GRID_KEYS:
        if isinstance(values[key], list):
            if key not in given:
                raise ConfigError(
                    f"--method {method}: {key} is a grid {values[key]}; choose one value with "
                    f"{option_name(key)} (python -m disentangle_tf.reproduce selects it)")
    # A --set value that a named option of the same command replaces is still judged on its
    # own (a file's value an option replaces is never used: its range is not judged).
    check_each({key: values[key] for key in given if key in set_sources}, set_sources)
    values.update(given)
    sources.update({key: COMMAND_LINE for key in given})
    fallback = config_file or (f"method {method}" if method else "defaults")
    try:
        config = RunConfig.from_flat_dict(values, source=fallback, sources=sources)
    except ConfigError as error:
        raise ConfigError(_as_option(str(error), given)) from None
    # Files by absolute path (from the current directory), so that the run's config.json
    # is a valid --config file wherever it is used.
    paths = {key: os.path.abspath(getattr(config.data, key)) for key in ("data", "image_root")
             if getattr(config.data, key) and not os.path.isabs(getattr(config.data, key))}
    return (config.replace(paths, source=COMMAND_LINE) if paths else config), frozenset(user_keys)


def _as_option(message: str, given: Mapping[str, Any]) -> str:
    """``message`` about a value given on the command line, naming the option as typed
    (``command line: epochs must be >= 1`` becomes ``--epochs must be >= 1``)."""
    prefix = COMMAND_LINE + ": "
    if message.startswith(prefix):
        key = message[len(prefix):].split(" ", 1)[0]
        if key in given:
            return option_name(key) + message[len(prefix) + len(key):]
    return message
