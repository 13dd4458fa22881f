"""Merging reproduce runs (``python -m disentangle_tf.report``): what parts of one comparison
must share, checked on run directories written here by hand (no training)."""

import json

import pytest

from disentangle_tf.cli.common import UserError
from disentangle_tf.experiments.report import FIELDS, collect

BASE = {"dataset": "synthetic", "data": None, "scale": 0.5, "tasks": None, "image_size": [56, 72], "channels": 1,
        "batch_size": 50, "epochs": 15, "learning_rate": 0.001, "independence_weight": 10.0}


def write_run(directory, method="lambda=0", seed=0, dataset="synthetic", **settings):
    directory.mkdir(parents=True)
    rows = [{"method": method, "seed": seed, "split": "unseen", "measure": "accuracy:shape", "value": 0.5}]
    with open(directory / "results.csv", "w") as handle:
        handle.write(",".join(FIELDS) + "\n")
        for row in rows:
            handle.write(",".join(str(row[field]) for field in FIELDS) + "\n")
    part = {"methods": [method], "seeds": [seed], "seconds": 1.0, "selection": "validation",
            "settings": {**BASE, "dataset": dataset, **settings}}
    (directory / "run.json").write_text(json.dumps({"dataset": dataset, "parts": [part]}))
    return directory


@pytest.mark.parametrize("key, other", [("image_size", [32, 40]), ("epochs", 8), ("batch_size", 25),
                                        ("scale", 1.0), ("learning_rate", 0.01)])
def test_parts_that_differ_in_a_shared_setting_are_refused_naming_it_and_both_runs(tmp_path, key, other):
    first = write_run(tmp_path / "a")
    second = write_run(tmp_path / "b", method="recommended", **{key: other})
    with pytest.raises(UserError) as info:
        collect([first, second])
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{second}: {key} {json.dumps(other)} where {first} has {json.dumps(BASE[key])}")


@pytest.mark.parametrize("key, value, other", [("flip", True, False), ("activation", "relu", "swish"),
                                               ("l2_weight", 0.0, 1e-4), ("image_root", "a", "b"),
                                               ("group_column", "", "patient"), ("error_upweight", 0, 3)])
def test_every_data_setting_and_hyper_parameter_a_method_does_not_set_must_be_shared(tmp_path, key, value, other):
    first = write_run(tmp_path / "a", **{key: value})
    second = write_run(tmp_path / "b", method="recommended", **{key: other})
    with pytest.raises(UserError, match=f"^{second}: {key} "):
        collect([first, second])


def test_parts_may_differ_in_the_seed_and_in_how_they_ran(tmp_path):
    first = write_run(tmp_path / "a", threads="auto", deterministic=False, memory_budget="auto", test_split="test")
    second = write_run(tmp_path / "b", seed=1, threads="2", deterministic=True, memory_budget="1GB",
                       test_split=["test"], figures=False, jit_compile=True)
    dataset, rows, parts = collect([first, second])
    assert len(rows) == 2 and len(parts) == 2


def test_a_part_recorded_before_a_setting_existed_is_read_with_the_value_it_had(tmp_path):
    first = write_run(tmp_path / "a")  # no error_upweight, group_column, ...: recorded before them
    second = write_run(tmp_path / "b", method="recommended", error_upweight=0, group_column="")
    assert len(collect([first, second])[1]) == 2
    third = write_run(tmp_path / "c", method="paper", error_upweight=3)
    with pytest.raises(UserError, match="error_upweight 3 where"):
        collect([first, third])


def test_every_recorded_part_holds_each_setting_or_its_value_from_before_the_setting(tmp_path):
    """The comparisons recorded in experiments/results: a key a part lacks needs the value the
    part had before the key existed (``Option.earlier``), or those parts could not be merged."""
    import pathlib

    from disentangle_tf.run.config import KEYS_ADDED_LATER
    from disentangle_tf.run.options import OPTIONS

    recorded = sorted((pathlib.Path(__file__).parents[1] / "experiments" / "results").rglob("run.json"))
    assert recorded
    for path in recorded:
        for part in json.loads(path.read_text())["parts"]:
            missing = {o.key for o in OPTIONS} - set(part["settings"]) - set(KEYS_ADDED_LATER)
            assert not missing, (path, sorted(missing))


def test_parts_may_differ_in_what_their_methods_set(tmp_path):
    first = write_run(tmp_path / "a")
    second = write_run(tmp_path / "b", method="recommended", independence_weight=0.0, seed=1)
    dataset, rows, parts = collect([first, second])
    assert dataset == "synthetic" and len(rows) == 2 and len(parts) == 2


def test_runs_of_different_data_sets_are_refused_as_such_even_when_method_and_seed_overlap(tmp_path):
    first = write_run(tmp_path / "a")
    second = write_run(tmp_path / "b", dataset="us-sim")  # the same method and seed
    with pytest.raises(UserError, match="^the runs are of different data sets: synthetic, us-sim$"):
        collect([first, second])


def test_an_empty_results_file_is_named_as_empty(tmp_path):
    run = write_run(tmp_path / "a")
    (run / "results.csv").write_text("")
    with pytest.raises(UserError, match=r"results\.csv: empty file; expected the columns method, seed, split"):
        collect([run])


def test_the_summary_names_each_seed_s_chosen_point_once(tmp_path):
    """Grid choices, on two recorded parts: one entry a seed, its number and its name settings
    each as key=value (a name is recorded as the measure chosen:<key>=<name>, value 1)."""
    import pathlib

    from disentangle_tf.experiments.report import write_summary

    results = pathlib.Path(__file__).parents[1] / "experiments" / "results" / "generalisation-5"
    dataset, rows, parts = collect([results / "us-sim-1", results / "us-sim-2"])
    chosen = {}
    for row in rows:
        if row["method"] == "selected long" and row["measure"].startswith("chosen:"):
            key, _, name = row["measure"][len("chosen:"):].partition("=")
            chosen.setdefault(int(row["seed"]), {})[key] = name or f"{float(row['value']):g}"
    assert sorted(chosen) == [1400, 1401] and all(set(c) == {"independence_weight", "independence_layers"}
                                                  for c in chosen.values())
    methods = list(dict.fromkeys(row["method"] for row in rows))
    write_summary(tmp_path / "summary.md", dataset, rows, methods, {"parts": parts})
    expected = "- selected long: " + "; ".join(
        f"seed {seed}: independence_weight={c['independence_weight']}, independence_layers={c['independence_layers']}"
        for seed, c in sorted(chosen.items()))
    assert expected in (tmp_path / "summary.md").read_text().splitlines()
