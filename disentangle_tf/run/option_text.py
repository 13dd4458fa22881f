"""The texts generated from the table of options (:mod:`disentangle_tf.run.options`): each
option's ``--help``, the configuration classes' documentation and the documentation's table of
options (no TensorFlow here)."""

from __future__ import annotations

import re
import textwrap

from . import options as table
from .config_values import describe_type
from .methods import METHODS

#: The method the train command uses unless ``--method`` names another; the configuration's
#: defaults are its settings (the recommended setting's). It chooses the penalty's weight and
#: place by held-out-combination validation where a combination of the training labels can
#: stand in for an unseen one, and trains the recommended setting where none can: measured on
#: four data sets, it kept the seen accuracy on all three where it chose, which the recommended
#: setting did not (docs/generalisation.rst).
DEFAULT_METHOD = "selected"

def shown_value(value) -> str:
    """A value as ``--help`` writes it: ``on``/``off``, ``0.001``, ``56 72``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return " ".join(shown_value(item) for item in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def method_default(key: str) -> str:
    """``--help``'s default of a setting the method decides: its value under the default
    method and, where it differs, under ``--method paper``."""
    value, paper = (METHODS[name].settings[key] for name in (DEFAULT_METHOD, "paper"))
    text = f"[default: {shown_value(value)}"
    return text + (f"; --method paper: {shown_value(paper)}]" if paper != value else "]")


def default_text(option: table.Option) -> str:
    """``[default: 50]``, ``[default: 0; --method paper: 0.01]``; empty for an empty default
    that the row does not describe."""
    if option.method_decides:
        return method_default(option.key)
    if option.default_text:
        return f"[default: {option.default_text}]"
    if option.default in ("", ()):
        return ""
    return f"[default: {shown_value(option.default)}]"


def help_text(option: table.Option) -> str:
    """The option's ``--help``: its help text and its default."""
    default = default_text(option)
    return f"{option.help}  {default}" if default else option.help


def section_docstring(summary: str, section: str) -> str:
    """A configuration class's docstring: ``summary``, then an ``Args:`` entry of each key of
    ``section``, its help text."""
    lines = [summary.strip(), "", "Args:"]
    for option in table.OPTIONS:
        if option.section == section:
            text = _prose(option.help) + (f" ({option.see})" if option.see else "")
            lines += textwrap.wrap(f"{option.key}: {text}", 96, initial_indent="    ",
                                   subsequent_indent="        ", break_on_hyphens=False)
    return "\n".join(lines) + "\n"


def _literal(value) -> str:
    # As a configuration file writes it: true, 0.001, 56 72.
    text = ("true" if value else "false") if isinstance(value, bool) else shown_value(value)
    return f"``{text}``"


def _allowed(option: table.Option) -> str:
    if option.choices:
        texts = [", ".join(_literal(choice) for choice in option.choices)]
    else:
        text = option.range_text()
        texts = [f"each {text}" if option.is_list else text] if text else []
        if option.check is not None and option.check.__doc__:
            texts.append(option.check.__doc__.strip())
    if option.datasets:
        texts.append(f"only with the {' or '.join(f'``{name}``' for name in option.datasets)} data set")
    return "; ".join(texts)


def _prose(text: str) -> str:
    # Options as literals, so that their dashes stay two hyphens.
    return re.sub(r"(?<![\w`])(--[a-z][a-z-]*)", r"``\1``", text)


def _default_cell(option: table.Option) -> str:
    if option.method_decides:
        value, paper = (METHODS[name].settings[option.key] for name in (DEFAULT_METHOD, "paper"))
        return _literal(value) + (f" (``--method paper``: {_literal(paper)})" if paper != value else "")
    if option.default_text:
        return option.default_text
    return "(empty)" if option.default in ("", ()) else _literal(option.default)


def options_table() -> list[str]:
    """The reST lines of a list-table of every option: key and option, section, type, default,
    allowed values and help; those ``--help`` lists without ``--help-all`` marked."""
    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 22 9 12 14 15 28", "",
             "   * - key, option", "     - section", "     - type", "     - default", "     - allowed",
             "     - what it does"]
    for option in table.OPTIONS:
        flag = f"{option.option}/--no-{option.option[2:]}" if option.type is bool else option.option
        command = f"``{flag}``" if option.command else "``--set`` only"
        help_ = _prose(option.help) + (f" ({option.see})" if option.see else "")
        lines += [f"   * - ``{option.key}``", "", f"       {command}" + (" (in ``--help``)" if option.shown else ""),
                  f"     - {option.section}", f"     - {describe_type(option.type)}",
                  f"     - {_default_cell(option)}", f"     - {_allowed(option) or '(any)'}", f"     - {help_}"]
    return lines
