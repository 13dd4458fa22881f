"""experiments/protocol_tables.py: the measures of a pre-registered comparison, from its parts."""

from __future__ import annotations

import csv
import importlib.util
import pathlib

import numpy as np
import pytest

SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "experiments" / "protocol_tables.py"
spec = importlib.util.spec_from_file_location("protocol_tables", SCRIPT)
protocol_tables = importlib.util.module_from_spec(spec)
spec.loader.exec_module(protocol_tables)


def _part(directory: pathlib.Path, rows) -> pathlib.Path:
    directory.mkdir(parents=True)
    with open(directory / "results.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["method", "seed", "split", "measure", "value"])
        writer.writerows(rows)
    return directory


def _rows(method, seeds, unseen, seen):
    return [row for s, u, t in zip(seeds, unseen, seen) for row in (
        (method, s, "unseen", "accuracy:digit", u), (method, s, "test", "accuracy:digit", t),
        (method, s, "test", "worst_group_accuracy:digit", t - 0.1))]


def test_parts_merge_and_the_measures_are_paired_by_seed(tmp_path, capsys):
    one = _part(tmp_path / "a", _rows("lambda=0 precise-bn", [1, 2], [0.2, 0.3], [0.9, 0.9])
                + _rows("mine", [1, 2], [0.4, 0.5], [0.9, 0.88]) + _rows("oracle", [1, 2], [0.6, 0.7], [0.9, 0.9]))
    two = _part(tmp_path / "b", _rows("lambda=0 precise-bn", [3, 4], [0.25, 0.35], [0.9, 0.9])
                + _rows("mine", [3, 4], [0.45, 0.55], [0.9, 0.9]) + _rows("oracle", [3, 4], [0.65, 0.75], [0.9, 0.9]))
    lines, verdicts = protocol_tables.table(protocol_tables.read_parts([one, two]), "digit")
    mine = verdicts["mine"]
    assert mine["unseen"]["seeds"] == 4 and mine["unseen"]["mean"] == pytest.approx(0.2)
    assert mine["seen"]["mean"] == pytest.approx(-0.005)
    assert mine["gap"] == pytest.approx(0.4) and mine["closed"] == pytest.approx(0.5)
    row = next(line for line in lines if line.startswith("| mine |"))
    assert f"{np.mean([0.4, 0.5, 0.45, 0.55]):.3f} ± " in row and "| 0 / 4 |" in row
    verdict = protocol_tables.criteria(verdicts, ["mine"])[0]
    assert "the gain criterion applies" in verdict and "excludes 0: met" in verdict
    assert "(-0.005): met" in verdict


def test_a_seed_recorded_twice_with_different_values_is_refused(tmp_path):
    one = _part(tmp_path / "a", _rows("lambda=0 precise-bn", [1], [0.2], [0.9]))
    two = _part(tmp_path / "b", _rows("lambda=0 precise-bn", [1], [0.3], [0.9]))
    with pytest.raises(ValueError, match="seed 1 is 0.3 here and 0.2 in another part"):
        protocol_tables.read_parts([one, two])


def test_the_reference_and_the_ceiling_are_the_rows_named(tmp_path):
    """A comparison of long rows measures each row against its long reference and the gap to
    its long ceiling, whatever the other rows are called."""
    part = _part(tmp_path / "a", _rows("lambda=0 precise-bn", [1, 2], [0.1, 0.1], [0.8, 0.8])
                 + _rows("reference long", [1, 2], [0.2, 0.3], [0.9, 0.9])
                 + _rows("mine long", [1, 2], [0.3, 0.4], [0.9, 0.9])
                 + _rows("oracle", [1, 2], [0.9, 0.9], [0.9, 0.9])
                 + _rows("oracle long", [1, 2], [0.45, 0.55], [0.9, 0.9]))
    _, verdicts = protocol_tables.table(protocol_tables.read_parts([part]), "digit", reference="reference long",
                                        oracle="oracle long")
    mine = verdicts["mine long"]
    assert mine["unseen"]["mean"] == pytest.approx(0.1) and mine["gap"] == pytest.approx(0.25)
    assert mine["closed"] == pytest.approx(0.4)
    assert verdicts["lambda=0 precise-bn"]["unseen"]["mean"] == pytest.approx(-0.15)
