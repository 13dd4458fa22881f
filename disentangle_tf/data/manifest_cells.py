"""The cells of a manifest: where a row is, which cells are missing, how labels sort.

Shared by the manifest's reader (:mod:`disentangle_tf.data.manifest`); every decision
on missing cells is taken by :func:`is_missing`.
"""

from __future__ import annotations

import pathlib

import numpy as np

from .manifest_options import MISSING_VALUES, ManifestError


def _where(source: pathlib.Path, index: int) -> str:
    """``"<manifest> row R (line L)"`` for the data row at 0-based ``index``."""
    return f"{source} row {index + 1} (line {index + 2})"


def _quote_list(values) -> str:
    values = [repr(v) for v in values]
    if len(values) > 12:
        values = values[:12] + [f"... ({len(values) - 12} more)"]
    return ", ".join(values)


def _first_line(text: object) -> str:
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(text).__name__


def _sorted_labels(values) -> tuple[str, ...]:
    """Distinct labels, sorted numerically if they are all integers."""
    distinct = set(values)
    try:
        return tuple(sorted(distinct, key=lambda v: (int(v), v)))
    except ValueError:
        return tuple(sorted(distinct))


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
