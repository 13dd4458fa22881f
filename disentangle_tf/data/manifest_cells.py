"""The cells of a manifest: where a row is, which cells are missing, how labels sort.

Shared by the manifest's reader (:mod:`disentangle_tf.data.manifest`); every decision
on missing cells is taken by :func:`is_missing`.
"""

from __future__ import annotations

import pathlib
import re
from decimal import Decimal

import numpy as np

from .manifest_options import MISSING_VALUES, ManifestError


def row_and_line(row: int) -> str:
    """``"row R (line L)"`` for the manifest's data row ``row`` (1-based; line 1 is the header)."""
    return f"row {row} (line {row + 1})"


def _where(source: pathlib.Path, index: int) -> str:
    """``"<manifest> row R (line L)"`` for the data row at 0-based ``index``."""
    return f"{source} {row_and_line(index + 1)}"


def slash_hint(path) -> str:
    """``"; paths use '/' (found '\\\\')"`` for a path written with Windows backslashes, else ``""``:
    a backslash is part of a file name on the systems the package reads paths on."""
    return "; paths use '/' (found '\\\\')" if "\\" in str(path) else ""


def existing_manifest(csv_path) -> pathlib.Path:
    """``csv_path`` as a path, checked to be a file (its rows are read later).

    Raises:
        ManifestError: ``<path>: manifest file not found`` (and :func:`slash_hint`'s hint).
    """
    source = pathlib.Path(csv_path)
    if not source.is_file():
        raise ManifestError(f"{source}: manifest file not found{slash_hint(source)}")
    return source


def _quote_list(values) -> str:
    values = [repr(v) for v in values]
    if len(values) > 12:
        values = values[:12] + [f"... ({len(values) - 12} more)"]
    return ", ".join(values)


def _first_line(text: object) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(text).__name__


def _sorted_labels(values) -> tuple[str, ...]:
    """Distinct labels, sorted numerically if they are all numbers (:func:`label_number`)."""
    distinct = set(values)
    numbers = {value: label_number(value) for value in distinct}
    if None not in numbers.values():
        return tuple(sorted(distinct, key=lambda v: (numbers[v], v)))
    return tuple(sorted(distinct))


#: A label that is a number as a spreadsheet writes one: a sign, digits with a decimal
#: point, an exponent (``1``, ``01``, ``+1``, ``1.0``, ``.50``, ``1E+3``).
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")

#: The same with a decimal comma (``1,0``): a number only if the comma is a decimal mark.
_COMMA_NUMBER = re.compile(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?")


def label_number(label: str) -> Decimal | None:
    """The number a label spells (``1``, ``1.0``, ``01``, ``" 1 "`` and ``1e0`` all spell
    1), or None for a label that is not a number in decimal notation."""
    text = str(label).strip()
    return Decimal(text) if _NUMBER.fullmatch(text) else None


def number_name(number: Decimal) -> str:
    """The class name of a number: its shortest decimal spelling (``1`` for ``1.0`` and
    ``01``, ``0.5`` for ``.50``, ``1000`` for ``1E3``)."""
    if abs(number.adjusted()) > 30:  # not spelt out in full
        return str(number.normalize())
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def class_name(label: str) -> str:
    """The class a label names: a number's :func:`number_name`, any other label as it is."""
    number = label_number(label)
    return label if number is None else number_name(number)


def class_labels(source: pathlib.Path, cells, given, column: str, task: str) -> np.ndarray:
    """A task column's labels, each number spelt by :func:`number_name`, so that the
    spellings of one number (``1``, ``1.0``, ``01``) are one class; other labels as written.

    Args:
        source: the manifest (for messages).
        cells: the column's cells, stripped strings.
        given: which cells hold a label (the others are left as they are).
        column, task: the column and its task (for messages).

    Returns:
        An object array of the labels, of the shape of ``cells``.

    Raises:
        ManifestError: for two labels that may or may not be one number, which the
            manifest cannot decide: a label with a decimal comma (``1,0``) whose number
            another label spells (``1``), or two numbers that differ as written but not
            once stored as a spreadsheet stores numbers (double precision). The message
            names both labels and the first row of each.
    """
    labels = np.array(cells, dtype=object)
    first: dict[str, int] = {}  # each spelling's first row
    for index in np.flatnonzero(given):
        labels[index] = class_name(cells[index])
        first.setdefault(cells[index], index)
    # The class names that each value takes: one number spelt alike, or look-alikes.
    by_value: dict[float, dict[str, str]] = {}  # value -> class name -> its first spelling
    for written in first:
        number = label_number(written)
        if number is not None:
            name = number_name(number)
        elif _COMMA_NUMBER.fullmatch(written):
            number, name = Decimal(written.replace(",", ".")), written
        else:
            continue
        by_value.setdefault(float(number), {}).setdefault(name, written)
    for names in by_value.values():
        if len(names) < 2:
            continue
        a, b = sorted(list(names.values())[:2], key=first.get)
        why = ("with a decimal comma it is the number the other spells, and the manifest cannot tell whether "
               "the comma is a decimal mark" if "," in a + b else
               "they are one number once stored as a spreadsheet stores numbers (double precision) but not as "
               "written")
        raise ManifestError(f"{_where(source, first[b])}: column {column!r} (task {task!r}) has label {b!r}, "
                            f"which looks like label {a!r} of row {first[a] + 1}: {why}; spell them alike if "
                            "they are one class, apart if they are two")
    return labels


def is_missing(cells) -> np.ndarray:
    """Which cells hold no value: empty, or a marker of :data:`MISSING_VALUES`.

    Every decision on missing cells is taken here.

    Args:
        cells: the cells of a manifest column, as strings.

    Returns:
        A boolean array of the shape of ``cells``, True where a cell is missing.
    """
    cells = np.asarray(cells, dtype=object)
    flags = [str(cell).strip().lower() in MISSING_VALUES for cell in cells.ravel()]
    return np.array(flags, dtype=bool).reshape(cells.shape)


def _refuse_missing(source: pathlib.Path, cells, column: str, what: str, needed: str) -> None:
    """Raise a :class:`ManifestError` naming the first missing cell of a column, if any.

    ``what`` follows the column's name (``" (task 'plane')"``); ``needed`` ends the
    message (what every row must have).
    """
    missing = is_missing(cells)
    if missing.any():
        index = int(np.flatnonzero(missing)[0])
        cell = cells[index]
        state = "is empty" if cell == "" else f"is missing: {cell!r} marks a missing value"
        raise ManifestError(f"{_where(source, index)}: column {column!r}{what} {state}; {needed}")
