"""experiments/remaining_seeds.py: the seeds of an interrupted part, as reproduce --seeds reads them."""

from __future__ import annotations

import importlib.util
import json
import pathlib

SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "experiments" / "remaining_seeds.py"
spec = importlib.util.spec_from_file_location("remaining_seeds", SCRIPT)
remaining_seeds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(remaining_seeds)


def _run_json(tmp_path, *parts):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"parts": [{"seeds": seeds} for seeds in parts]}))
    return str(path)


def test_the_seeds_no_part_lists_are_left_in_order(tmp_path):
    assert remaining_seeds.remaining(_run_json(tmp_path, [1400], [1402]), "1400-1404") == "1401,1403,1404"


def test_one_seed_left_is_a_range_of_one_not_a_count(tmp_path):
    assert remaining_seeds.remaining(_run_json(tmp_path, [1400, 1401]), "1400-1402") == "1402-1402"


def test_a_done_part_leaves_nothing(tmp_path):
    assert remaining_seeds.remaining(_run_json(tmp_path, [1401], [1400]), "1400-1401") == ""
