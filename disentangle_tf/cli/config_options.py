"""The commands' options of configuration keys, made from the table of options
(:mod:`disentangle_tf.run.options`): each key's option, type, help and default as its row
declares them, in the table's order."""

from __future__ import annotations

import dataclasses
import typing

import click

from ..run.option_text import help_text
from ..run.options import find_option, keys_of

#: The options that read a manifest (the train, convert and reproduce commands).
MANIFEST_OPTIONS = keys_of(command="manifest")

#: The options that choose and read a data set (the train and convert commands).
DATA_OPTIONS = keys_of(command="data") + MANIFEST_OPTIONS

#: Every option of the train command that maps one to one onto a configuration key.
CONFIG_OPTIONS = DATA_OPTIONS + keys_of(command="train")


def _none_if_empty(context, parameter, values):
    # A repeatable option not given is None, as any other option not given.
    return values or None


def config_option(key: str, **changes):
    """The click option of configuration key ``key``: its row of the table, with ``changes``
    (a command's own ``help`` or ``default_text``). Its value is None when not given."""
    option = dataclasses.replace(find_option(key), **changes)
    names = [f"{option.option}/--no-{option.option[2:]}"] if option.type is bool else [option.option]
    details = {"help": help_text(option), "metavar": option.metavar}
    if option.type is bool:
        details["default"] = None
    elif option.path:
        details["type"] = click.Path(dir_okay=option.path != "file", file_okay=option.path != "directory")
    elif option.choices and all(isinstance(choice, str) for choice in option.choices):
        details["type"] = click.Choice(option.choices)
    elif option.repeatable:
        details.update(type=typing.get_args(option.type)[0], multiple=True, callback=_none_if_empty)
    else:
        details["type"] = typing.get_args(option.type) if option.is_list else option.type
    return click.option(*names, option.key, **details)


def config_options(keys):
    """A decorator adding the options of ``keys`` to a command, listed in that order."""

    def decorate(command):
        for key in reversed(keys):
            command = config_option(key)(command)
        return command

    return decorate


def manifest_options(command):
    """The options that read a manifest (shared with the convert and reproduce commands)."""
    return config_options(MANIFEST_OPTIONS)(command)


def data_options(command):
    """The options that choose and read a data set, and ``--config`` (shared with the convert command)."""
    command = manifest_options(command)
    command = click.option("--config", "config_file", type=click.Path(dir_okay=False),
                           help="YAML or JSON file whose keys mirror these options (image_size for --image-size)."
                           )(command)
    return config_options(keys_of(command="data"))(command)
