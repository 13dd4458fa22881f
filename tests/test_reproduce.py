"""The reproduction command, its probes and its figures, on tiny configurations."""

from __future__ import annotations

import csv
import json
import struct

import numpy as np
import pytest

from conftest import TINY_METHOD, build_random_data, build_tiny_model, eager_compiles, small_digits, small_synthetic
from disentangle_tf.models import TaskSpec
from disentangle_tf.evaluation.probes import probe_rows
from disentangle_tf.run.methods import METHODS
from disentangle_tf.cli.reproduce import main
from disentangle_tf.experiments.reproduce import EXPERIMENTS
from disentangle_tf.cli.common import run_command

TINY = {"encoder_filters": [4, 8], "encoder_strides": [2, 2], "stem_filters": 4, "head_units": [8],
        "adversary_steps": 1}
SYNTHETIC_METHODS = ["shape only", "background only", "lambda=0", "paper grid", "recommended", "oracle"]
US_SIM_METHODS = ["plane only", "artifacts only", "lambda=0", "paper", "conditional HSIC"]
PAPER_LAMBDAS = METHODS["paper grid"].settings["adversarial_weight"]


def _run(args):
    run_command(main, args=args, prog_name="python -m disentangle_tf.reproduce")


def _read(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def _is_png(path):
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module", autouse=True)
def _small_synthetic():
    with small_synthetic():
        yield


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


TINY_ARGS = ["--epochs", "1", "--image-size", "16", "20", "--batch-size", "120"]


#: The training groups of every run of the module's comparison, in the order they ran.
TRAINED_GROUPS: list = []


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory, tiny_config):
    """Every method of :data:`SYNTHETIC_METHODS` on seed 0; the groups each run trained on
    are recorded in :data:`TRAINED_GROUPS`."""
    import disentangle_tf.run.training as training

    real_run = training.run
    TRAINED_GROUPS.clear()  # a fixture built again (its tests not kept together) records afresh

    def spy(config, data=None, **kwargs):
        TRAINED_GROUPS.append(set(data.train.groups.tolist()))
        return real_run(config, data=data, **kwargs)

    output = tmp_path_factory.mktemp("synthetic")
    # Eagerly: each run is two steps (batches of 120), fewer than it took to trace them.
    with pytest.MonkeyPatch.context() as patch, eager_compiles():
        patch.setattr(training, "run", spy)
        _run(["synthetic", "--methods", ",".join(SYNTHETIC_METHODS[:3]), "--methods",
              ",".join(SYNTHETIC_METHODS[3:]), "--seeds", "1", *TINY_ARGS, "--config", str(tiny_config),
              "--output-dir", str(output), "--overwrite"])
    return output


@pytest.mark.xdist_group("synthetic_run")  # one worker builds the module's run once
def test_synthetic_results_cover_every_method_seed_split_and_measure(synthetic_run):
    rows = _read(synthetic_run / "results.csv")
    assert set(rows[0]) == {"method", "seed", "split", "measure", "value"}
    seen = {(r["method"], int(r["seed"]), r["split"], r["measure"]) for r in rows}
    assert len(seen) == len(rows), "one row per method x seed x split x measure"
    assert {r["method"] for r in rows} == set(SYNTHETIC_METHODS)
    tasks = {"shape only": ["shape"], "background only": ["background"]}
    for method in SYNTHETIC_METHODS:
        for seed in (0,):
            for split in ("val", "test", "unseen", "unseen_val"):
                for task in tasks.get(method, ["background", "shape"]):
                    assert (method, seed, split, f"accuracy:{task}") in seen
            if method in tasks:
                assert not any(m == method and k.startswith(("adversary", "probe")) for m, _, _, k in seen)
                continue
            for split in ("test", "unseen"):
                for pair in ("shape->background", "background->shape"):
                    assert (method, seed, split, f"adversary_accuracy:{pair}") in seen
                    for kind in ("linear", "mlp", "chance"):
                        assert (method, seed, split, f"probe_{kind}:{pair}") in seen
            # Rectangles lie on both backgrounds in validation and test: a conditional probe.
            for kind in ("linear", "mlp"):
                assert (method, seed, "test", f"probe_{kind}_within:shape->background|rectangle") in seen
                assert (method, seed, "test", f"probe_{kind}_within_mean:shape->background") in seen
    values = [float(r["value"]) for r in rows]
    assert all(0.0 <= v <= 1.0 for v in values)
    chosen = [float(r["value"]) for r in rows if r["method"] == "paper grid" and r["measure"] == "chosen:adversarial_weight"]
    assert len(chosen) == 1 and all(any(np.isclose(c, g) for g in PAPER_LAMBDAS) for c in chosen)
    scores = [r for r in rows if r["measure"].startswith("selection_score")]
    assert len(scores) == len(PAPER_LAMBDAS) and {r["split"] for r in scores} == {"val"}
    assert not any(r["method"] != "paper grid" and r["measure"].startswith("chosen:") for r in rows)


@pytest.mark.xdist_group("synthetic_run")  # one worker builds the module's run once
def test_synthetic_summary_and_figures(synthetic_run):
    summary = (synthetic_run / "summary.md").read_text()
    for method in SYNTHETIC_METHODS:
        assert f"| {method} |" in summary
    assert "1 seed(s)" in summary and "model selection: validation split" in summary and "±" in summary
    headline = [line for line in summary.splitlines() if line.startswith("| paper grid |")][0]
    cells = [c.strip() for c in headline.strip("|").split("|")]
    assert cells[-5].endswith(" / 1") and cells[-1] == "-"  # one seed: no paired difference
    info = json.loads((synthetic_run / "run.json").read_text())
    assert info["dataset"] == "synthetic" and info["parts"][0]["seeds"] == [0]
    assert info["parts"][0]["methods"] == SYNTHETIC_METHODS and info["parts"][0]["seconds"] > 0
    figures = synthetic_run / "figures"
    for method in ("lambda_0", "paper_grid", "recommended", "oracle"):
        assert _is_png(figures / f"pca_{method}.png")
    assert _is_png(figures / "training_curves_seed0.png")
    assert _is_png(figures / "samples.png")


@pytest.mark.xdist_group("synthetic_run")  # one worker builds the module's run once
def test_oracle_trains_on_the_unseen_combination(synthetic_run):
    """The oracle row (the last of the comparison) trains with circles on black; no other
    row's training split holds one."""
    *others, oracle = TRAINED_GROUPS
    assert oracle == {"circle-white", "rectangle-white", "rectangle-black", "circle-black"}
    assert len(others) >= len(SYNTHETIC_METHODS) - 1  # a run per row, and per point of the paper's grid
    assert all(groups == {"circle-white", "rectangle-white", "rectangle-black"} for groups in others)


def test_an_ensemble_row_trains_its_members_on_the_seed_s_data_and_scores_them_as_one(monkeypatch, tmp_path,
                                                                                     tiny_config, eager_runs):
    import dataclasses

    import disentangle_tf.run.training as training

    # The row's mechanics are the point, not its method: two members, neither with the
    # penalty nor the steps after training.
    row = METHODS["recommended ensemble"]
    monkeypatch.setitem(METHODS, row.name, dataclasses.replace(
        row, settings={**row.settings, **TINY_METHOD, "ensemble_size": 2}))
    seen = []
    real_run = training.run

    def spy(config, *args, data=None, **kwargs):
        seen.append((config.training.ensemble_size, config.training.ensemble_member, config.data.seed, id(data)))
        return real_run(config, *args, data=data, **kwargs)

    monkeypatch.setattr(training, "run", spy)
    output = tmp_path / "out"
    _run(["synthetic", "--methods", "recommended ensemble", "--seeds", "1", *TINY_ARGS,
          "--config", str(tiny_config), "--output-dir", str(output)])
    assert [s[:3] for s in seen] == [(2, 0, 0), (1, 0, 0), (1, 1, 0)]
    assert len({s[3] for s in seen}) == 1  # one data set for the ensemble and its members
    rows = _read(output / "results.csv")
    measured = {(r["split"], r["measure"]) for r in rows if r["method"] == "recommended ensemble"}
    assert {("test", "accuracy:shape"), ("unseen", "accuracy:shape")} <= measured
    assert _is_png(output / "figures" / "pca_recommended_ensemble.png")


def test_oracle_selection_chooses_on_the_unseen_validation_set(tmp_path, tiny_config, eager_runs):
    output = tmp_path / "oracle"
    _run(["synthetic", "--methods", "paper grid", "--seeds", "1", "--selection", "oracle", *TINY_ARGS,
          "--config", str(tiny_config), "--output-dir", str(output)])
    rows = _read(output / "results.csv")
    scores = {r["measure"].split("=")[1]: float(r["value"]) for r in rows if r["measure"].startswith("selection_score")}
    assert {r["split"] for r in rows if r["measure"].startswith(("selection_score", "chosen"))} == {"unseen_val"}
    chosen = [float(r["value"]) for r in rows if r["measure"] == "chosen:adversarial_weight"][0]
    assert scores[f"{chosen:g}"] == max(scores.values())
    assert "oracle selection" in (output / "summary.md").read_text()


def test_digits_run_as_the_synthetic_shapes_with_an_oracle_row_and_the_unseen_digit_headline(
        monkeypatch, tmp_path, tiny_config, eager_runs):
    import disentangle_tf.run.training as training

    seen = []
    real_run = training.run

    def spy(config, data=None, **kwargs):
        seen.append(([t.name for t in data.tasks], "3-with" in set(data.train.groups.tolist())))
        return real_run(config, data=data, **kwargs)

    monkeypatch.setattr(training, "run", spy)
    output = tmp_path / "digits"
    with small_digits():
        _run(["digits-shadow", "--methods", "oracle,digit only", "--seeds", "1", *TINY_ARGS,
              "--config", str(tiny_config), "--output-dir", str(output)])
    # The oracle row trains with shadowed 3s; the single-task baseline never sees one.
    assert seen == [(["digit", "shadow"], True), (["digit"], False)]
    rows = _read(output / "results.csv")
    assert {r["split"] for r in rows if r["measure"] == "accuracy:digit"} == {"val", "test", "unseen", "unseen_val"}
    summary = (output / "summary.md").read_text()
    assert "## Headline: unseen digit accuracy per seed" in summary
    assert "| oracle |" in summary and "| digit only |" in summary


@pytest.mark.xdist_group("synthetic_run")  # one worker builds the module's run once
def test_parts_merge_into_one_table(synthetic_run, tmp_path, tiny_config, capsys, eager_runs):
    """The module's run (seed 0, every method) and a part on seeds 1-2 with one of its methods and one more."""
    from disentangle_tf.cli.report import main as report_main

    _run(["synthetic", "--methods", "lambda=0,paper", "--seeds", "1-2", *TINY_ARGS, "--config",
          str(tiny_config), "--output-dir", str(tmp_path / "part1")])
    merged = tmp_path / "merged"
    run_command(report_main, args=[str(synthetic_run), str(tmp_path / "part1"), "--output-dir", str(merged)],
                prog_name="python -m disentangle_tf.report")
    rows = _read(merged / "results.csv")
    assert {int(r["seed"]) for r in rows} == {0, 1, 2}
    assert {int(r["seed"]) for r in rows if r["method"] == "oracle"} == {0}
    summary = (merged / "summary.md").read_text()
    assert "3 seed(s)" in summary and summary.count("Part ") == 2
    both = [l for l in summary.splitlines() if l.startswith("| lambda=0 |")][0]
    assert both.count("/ 3") == 1  # seed 0 from the module's run, seeds 1-2 from the part
    line = [l for l in summary.splitlines() if l.startswith("| paper |")][0]
    assert line.count("/ 2") == 1
    assert line.strip("|").split("|")[-1].strip() in ("yes", "no")  # paired with lambda=0 over seeds 1-2
    # The same method and seed twice is refused, before anything is written.
    with pytest.raises(SystemExit) as raised:
        run_command(report_main, args=[str(synthetic_run), str(synthetic_run), "--output-dir",
                                       str(tmp_path / "twice")], prog_name="python -m disentangle_tf.report")
    assert raised.value.code == 2 and not (tmp_path / "twice").exists()
    assert "also in" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_command(report_main, args=[str(tmp_path / "part1"), str(merged), "--output-dir", str(tmp_path / "m2")],
                    prog_name="python -m disentangle_tf.report")
    assert not (tmp_path / "m2").exists()


def test_paired_difference_statistics():
    from disentangle_tf.experiments.report import paired_difference

    baseline = {s: 0.1 for s in range(10)}
    better = {s: 0.9 + 0.01 * s for s in range(10)}
    result = paired_difference(better, baseline)
    assert result["seeds"] == 10 and result["mean"] == pytest.approx(0.845)
    assert 0.8 < result["low"] < result["mean"] < result["high"] < 0.9
    assert result["wilcoxon_p"] < 0.01 and result["significant"]
    noisy = {s: 0.1 + (0.3 if s % 2 else -0.3) for s in range(10)}
    assert not paired_difference(noisy, baseline)["significant"]
    assert paired_difference({0: 1.0}, {0: 0.0}) is None


@pytest.mark.xdist_group("synthetic_run")  # one worker builds the module's run once
def test_non_empty_output_dir_is_refused(synthetic_run, capsys):
    with pytest.raises(SystemExit) as raised:
        _run(["synthetic", "--seeds", "1", "--output-dir", str(synthetic_run)])
    assert raised.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("Error:") and "--overwrite" in error and len(error.splitlines()) == 1


@pytest.mark.parametrize("args", [["mnist"], ["synthetic", "--seeds", "0"], ["synthetic", "--seeds", "3-1"],
                                  ["synthetic", "--image-size", "8", "8"], ["synthetic", "--methods", "magic"],
                                  ["us-sim", "--selection", "oracle"]])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as raised:
        _run([*args, "--output-dir", str(tmp_path / "out")])
    assert raised.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_us_sim_table_2_columns(tmp_path, tiny_config, eager_runs):
    output = tmp_path / "us"
    _run(["us-sim", "--methods", ",".join(US_SIM_METHODS), "--seeds", "1", "--epochs", "1", "--image-size", "16",
          "20", "--scale", "0.05", "--config", str(tiny_config), "--output-dir", str(output)])
    rows = _read(output / "results.csv")
    seen = {(r["method"], r["split"], r["measure"]) for r in rows}
    assert {r["method"] for r in rows} == set(US_SIM_METHODS)
    for plane in ("3VV", "LVOT", "Abd"):
        assert ("paper", "test_seen", f"accuracy:plane|{plane}") in seen
        assert ("paper", "test_seen", f"adversary_accuracy:shadow->plane|{plane}") in seen
    assert ("plane only", "lvot_with_shadow", "accuracy:plane") in seen
    assert ("artifacts only", "others", "accuracy:shadow") in seen
    assert not any(m == "plane only" and s == "others" for m, s, _ in seen)
    summary = (output / "summary.md").read_text()
    header = next(line for line in summary.splitlines() if line.startswith("| method | 3VV"))
    assert [c.strip() for c in header.strip("|").split("|")] == [
        "method", "3VV", "LVOT", "Abd", "OA", "W/O S", "W S", "OA", "LVOT(W S)", "OTHS"]
    for method in US_SIM_METHODS:
        assert f"| {method} |" in summary
    assert "| paper, irrelevant features |" in summary
    assert "LVOT(W S) plane accuracy per seed" in summary
    assert _is_png(output / "figures" / "pca_paper.png")
    assert _is_png(output / "figures" / "samples.png")
    assert set(EXPERIMENTS) == {"synthetic", "us-sim", "digits-shadow", "digits-texture"}


def test_us_sim_oracle_trains_on_the_oracle_images_added_to_the_training_split(monkeypatch, tmp_path,
                                                                               tiny_config, eager_runs):
    """The oracle row trains on the training split and the oracle split's LVOT images with a
    shadow (generated at the run's seed, scale and shadow salience), the row beside it on the
    training split alone; no oracle image is in a split that is scored."""
    import disentangle_tf.experiments.reproduce as reproduce_module
    import disentangle_tf.run.training as training
    from disentangle_tf.data.ultrasound_sim import make_us_sim_split

    trained, loaded = [], []
    real_run, real_load = training.run, reproduce_module.load_experiment_data

    def spy_run(config, data=None, **kwargs):
        trained.append(data.train)
        return real_run(config, data=data, **kwargs)

    def spy_load(*args, **kwargs):
        loaded.append(real_load(*args, **kwargs))
        return loaded[-1]

    monkeypatch.setattr(training, "run", spy_run)
    monkeypatch.setattr(reproduce_module, "load_experiment_data", spy_load)
    output = tmp_path / "us"
    _run(["us-sim", "--methods", "lambda=0 precise-bn,oracle", "--seeds", "1", "--epochs", "1", "--image-size",
          "16", "20", "--scale", "0.05", "--set", "shadow_salience=2", "--config", str(tiny_config),
          "--output-dir", str(output)])
    size = dict(image_size=(16, 20), scale=0.05, seed=0, shadow_salience=2.0)
    train, oracle = make_us_sim_split("train", **size), make_us_sim_split("oracle", **size)
    assert len(oracle) == 4 and set(oracle.groups.tolist()) == {"LVOT-with"}
    assert len(trained) == 2
    baseline, with_oracle = trained
    assert baseline.images.tobytes() == train.images.tobytes()
    assert with_oracle.images.tobytes() == np.concatenate([train.images, oracle.images]).tobytes()
    for task in ("plane", "shadow"):
        np.testing.assert_array_equal(with_oracle.labels[task], np.concatenate([train.labels[task],
                                                                                oracle.labels[task]]))
    np.testing.assert_array_equal(with_oracle.groups, np.concatenate([train.groups, oracle.groups]))
    # Scored: the experiment's splits, none of which holds an oracle image.
    (data, extra), = loaded
    assert extra.images.tobytes() == oracle.images.tobytes()
    assert list(data.evaluation) == ["val", "test_seen", "lvot_with_shadow", "others"]
    scored = {image.tobytes() for split in data.evaluation.values() for image in split.images}
    assert not any(image.tobytes() in scored for image in oracle.images)
    rows = _read(output / "results.csv")
    assert {r["split"] for r in rows if r["method"] == "oracle"} == set(data.evaluation)
    assert {r["method"] for r in rows} == {"lambda=0 precise-bn", "oracle"}
    assert "| oracle |" in (output / "summary.md").read_text()


def _png_size(path):
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def test_sample_figure_has_one_row_per_group(tmp_path):
    from disentangle_tf.data.ultrasound_sim import GROUPS, make_us_sim_splits
    from disentangle_tf.evaluation.plots import plot_group_samples

    # "LVOT-with" is only in lvot_with_shadow and the "Others" groups only in others.
    splits = make_us_sim_splits(image_size=(16, 20), scale=0.05)
    path = plot_group_samples(splits, tmp_path / "samples.png", per_group=2)
    assert _png_size(path) == (2 * 160, len(GROUPS) * 140)
    one_split = plot_group_samples({"lvot_with_shadow": splits["lvot_with_shadow"]}, tmp_path / "one.png",
                                   per_group=2)
    assert _png_size(one_split) == (2 * 160, 1 * 140)


def test_probes_find_leakage_and_its_absence():
    rng = np.random.default_rng(0)
    tasks = [TaskSpec("shape", 2, class_names=("circle", "rectangle")),
             TaskSpec("background", 2, class_names=("black", "white"))]

    def split(n):
        shape = rng.integers(0, 2, n)
        background = rng.integers(0, 2, n)
        leaky = rng.normal(size=(n, 20))
        leaky[:, 0] += 4 * background  # shape features that hold the background
        clean = rng.normal(size=(n, 20))
        clean[:, 0] += 4 * background
        return {"shape": leaky, "background": clean}, {"shape": shape, "background": background}

    features, labels = {}, {}
    for name, n in (("val", 200), ("test", 200)):
        features[name], labels[name] = split(n)
    rows = probe_rows(features, labels, tasks, fit_split="val", score_splits=("test",), method="m", seed=1)
    value = {r["measure"]: r["value"] for r in rows}
    assert value["probe_linear:shape->background"] > 0.9
    assert value["probe_mlp:shape->background"] > 0.85
    assert value["probe_linear_within:shape->background|rectangle"] > 0.9
    assert value["probe_linear:background->shape"] < 0.65
    assert value["probe_chance:background->shape"] == 0.5
    assert {r["split"] for r in rows} == {"test"} and {r["seed"] for r in rows} == {1}


def test_plots_write_non_empty_pngs(tmp_path):
    from disentangle_tf.evaluation.plots import hidden_features, plot_pca, plot_training_curves

    model = build_tiny_model()
    model.compile(adversary_steps=1, adversary_batches="same")
    data = build_random_data(count=24)
    history = model.fit(data.images, data.labels, epochs=2, batch_size=8, verbose=0,
                        validation_data=(data.images, data.labels)).history
    features = {t: np.asarray(enc(data.images)) for t, enc in zip(model.task_names, model.encoders)}
    hidden = hidden_features(model, features)
    assert hidden["relevant"]["a"].shape == (24, 8) and set(hidden["irrelevant"]) == set(model.adversary_names)
    pca = plot_pca(model, data, tmp_path / "pca.png", title="tiny")
    curves = plot_training_curves({"tiny": history, "again": history}, tmp_path / "curves.png")
    assert _is_png(pca) and _is_png(curves)


def test_reproduce_refuses_a_non_empty_output_dir(tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-m", "disentangle_tf.reproduce", "synthetic", "--seeds", "1",
                             "--output-dir", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "not empty" in lines[0], lines
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_score_rows_read_the_evaluation_and_leave_missing_labels_out():
    # Task b's labels are half missing; its accuracy and the adversary predicting it
    # are scored on the labelled half only (two of the three right, class "1" absent).
    from disentangle_tf.evaluation.evaluate import evaluate_split
    from disentangle_tf.experiments.reproduce import score_rows

    model = build_tiny_model((TaskSpec("a", 2), TaskSpec("b", 2, class_names=("no", "yes"))))
    data = build_random_data((TaskSpec("a", 2), TaskSpec("b", 2)), count=6)
    labels = dict(data.labels)
    labels["b"] = np.array([0, 0, 0, -1, -1, -1])
    data = type(data)(images=data.images, labels=labels)
    a_to_b = np.zeros((6, 2), "float32")
    a_to_b[[0, 1], 0] = 1.0  # predicts "no" (right) on rows 0 and 1, "yes" (wrong) on row 2
    a_to_b[[2, 3, 4, 5], 1] = 1.0
    outputs = {"logits": {"a": np.eye(2, dtype="float32")[data.labels["a"]], "b": a_to_b},
               "adversary_logits": {"a_to_b": a_to_b, "b_to_a": np.eye(2, dtype="float32")[data.labels["a"]]},
               "features": {}}
    metrics = {"test": evaluate_split(model, data, outputs=outputs)}
    rows = {row["measure"]: row["value"] for row in score_rows(metrics, "m", 0)}
    assert rows["accuracy:a"] == 1.0
    assert rows["accuracy:b"] == pytest.approx(2 / 3)
    assert rows["accuracy:b|no"] == pytest.approx(2 / 3) and "accuracy:b|yes" not in rows
    assert rows["adversary_accuracy:a->b"] == pytest.approx(2 / 3)
    assert rows["adversary_accuracy:a->b|no"] == pytest.approx(2 / 3)
    assert rows["adversary_accuracy:b->a"] == 1.0
    assert {row["split"] for row in score_rows(metrics, "m", 0)} == {"test"}
