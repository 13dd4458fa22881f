"""``python -m disentangle_tf.reproduce csv`` / ``hdf5``: the paper's Table 2 on a user's files."""

from __future__ import annotations

import csv
import json

from test_partial_labels import write_table_1_manifest

SPLITS = ["--test-split", "test_seen", "--test-split", "lvot_with_shadow", "--test-split", "others"]
TINY = ["--epochs", "1", "--image-size", "16", "20", "--batch-size", "8"]


def _data(tmp_path):
    manifest = write_table_1_manifest(tmp_path)
    settings = tmp_path / "tiny.json"
    settings.write_text(json.dumps({"encoder_filters": [4, 8], "encoder_strides": [2, 2], "stem_filters": 4,
                                    "head_units": [8]}))
    return ["csv", "--data", manifest, "--task", "plane", "--task", "shadow", *SPLITS, "--missing-labels", "allow",
            "--config", settings, *TINY]


def test_reproduce_csv_writes_table_2_per_split_and_class(tmp_path, run_module, eager_runs):
    out = tmp_path / "table2"
    result = run_module("disentangle_tf.reproduce", *_data(tmp_path), "--methods", "plane only,lambda=0",
                        "--seeds", "2", "--headline", "lvot_with_shadow:plane", "--output-dir", out)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    scored = {(r["method"], r["seed"], r["split"], r["measure"]) for r in rows}
    for method in ("plane only", "lambda=0"):
        for seed in ("0", "1"):
            assert (method, seed, "test_seen", "accuracy:plane|3VV") in scored
            assert (method, seed, "lvot_with_shadow", "accuracy:plane|LVOT") in scored
            assert (method, seed, "lvot_with_shadow", "accuracy:plane") in scored
            # "others" rows have no plane label: the plane task is not scored there.
            assert (method, seed, "others", "accuracy:plane") not in scored
    # The plane-only baseline has no shadow task; the two-task model is scored on shadows everywhere.
    assert not any(m == "plane only" and k.startswith("accuracy:shadow") for m, _, _, k in scored)
    assert ("lambda=0", "0", "others", "accuracy:shadow|with") in scored
    # No class of a split without its images: lvot_with_shadow holds LVOT only.
    assert ("lambda=0", "0", "lvot_with_shadow", "accuracy:plane|3VV") not in scored

    summary = (out / "summary.md").read_text()
    assert "## Headline: lvot_with_shadow plane accuracy per seed" in summary
    for split in ("test_seen", "lvot_with_shadow", "others"):
        assert f"## Table 2 layout, {split}: accuracy % per task and class" in summary
    table = summary.split("## Table 2 layout, others")[1].split("##")[0]
    assert "shadow with" in table and "shadow OA" in table and "plane" not in table.split("\n")[2]
    info = json.loads((out / "run.json").read_text())
    assert info["dataset"] == "csv" and info["parts"][0]["headline"] == ["lvot_with_shadow", "plane"]
    assert info["parts"][0]["methods"] == ["plane only", "lambda=0"]


def test_reproduce_csv_refuses_bad_options_before_writing(tmp_path, run_module):
    data = _data(tmp_path)
    cases = [
        (["--headline", "others:size"], "--headline: expected SPLIT:TASK with SPLIT one of test_seen, "
                                         "lvot_with_shadow, others and TASK one of plane, shadow; got 'others:size'"),
        (["--methods", "background only"], "--methods: unknown method 'background only'"),
    ]
    for extra, message in cases:
        out = tmp_path / "refused"
        result = run_module("disentangle_tf.reproduce", *data, *extra, "--output-dir", out)
        assert result.returncode == 2, result.stderr[-2000:]
        assert message in result.stderr and "Traceback" not in result.stderr
        assert not out.exists()
    out = tmp_path / "refused"
    result = run_module("disentangle_tf.reproduce", "synthetic", "--task", "plane", "--output-dir", out)
    assert result.returncode == 2
    assert "--task: only with the csv data set; got synthetic" in result.stderr and not out.exists()
    result = run_module("disentangle_tf.reproduce", "csv", "--output-dir", out)
    assert result.returncode == 2
    assert "the csv data set needs a file: pass --data" in result.stderr and not out.exists()
    assert "--dataset" not in result.stderr  # reproduce takes the data set as an argument, not an option


def test_reproduce_hdf5_reads_a_converted_file_and_scores_its_splits(tmp_path, run_module):
    data = _data(tmp_path)
    converted = tmp_path / "data.h5"
    manifest_options = [str(a) for a in data[1:data.index("--config")]]
    result = run_module("disentangle_tf.convert", "--dataset", "csv", *manifest_options, "--image-size", "16", "20",
                        "--output", converted)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "table2"
    result = run_module("disentangle_tf.reproduce", "hdf5", "--data", converted, *data[data.index("--config"):],
                        "--methods", "lambda=0", "--seeds", "1", "--headline", "lvot_with_shadow:plane",
                        "--output-dir", out)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out / "results.csv") as handle:
        scored = {(r["method"], r["split"], r["measure"]) for r in csv.DictReader(handle)}
    assert ("lambda=0", "lvot_with_shadow", "accuracy:plane|LVOT") in scored
    assert ("lambda=0", "others", "accuracy:shadow|with") in scored
    assert ("lambda=0", "others", "accuracy:plane") not in scored  # no plane label in the file either
    summary = (out / "summary.md").read_text()
    assert "## Headline: lvot_with_shadow plane accuracy per seed" in summary
    assert json.loads((out / "run.json").read_text())["dataset"] == "hdf5"

    # A manifest's column options mean nothing for a converted file; --headline nothing for a generated set.
    for arguments, message in [(["hdf5", "--data", converted, "--task", "plane"], "--task: only with the csv data set"),
                               (["synthetic", "--data", converted], "--data: only with the csv or hdf5 data set"),
                               (["us-sim", "--headline", "val:plane"], "--headline: only with the csv or hdf5")]:
        refused = tmp_path / "refused"
        result = run_module("disentangle_tf.reproduce", *arguments, "--output-dir", refused)
        assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]
        assert not refused.exists()
