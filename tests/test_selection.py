"""Held-out-combination validation: which combinations are eligible, that their images never
reach training, the selection rule, and a real tiny run through ``train --selection``."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from conftest import RESULTS_ONLY
from disentangle_tf.data.dataset_splits import DatasetSplits
from disentangle_tf.data.labelled_images import LabelledImages
from disentangle_tf.run.config import RunConfig
from disentangle_tf.run.result import RunResult
from disentangle_tf.selection import eligible_combinations, relevant_task_of, without_combination
from disentangle_tf.selection.grid import choose, select_setting
from disentangle_tf.selection.held_out import HeldOutEstimate, CombinationScore, sample_combinations
from disentangle_tf.task_spec import TaskSpec

PLANES = TaskSpec("plane", 3, class_names=("3VV", "LVOT", "Abd"))
SHADOW = TaskSpec("shadow", 2, class_names=("without", "with"))


def split_of(counts: dict, tasks, seed: int = 0) -> LabelledImages:
    """Images whose pixel [0, 0] is a unique id, with ``counts[labels]`` images of each combination."""
    labels = {task.name: [] for task in tasks}
    for combination, count in counts.items():
        for task, label in zip(tasks, combination):
            labels[task.name] += [label] * count
    total = sum(counts.values())
    images = np.zeros((total, 4, 4, 1), np.float32)
    images[:, 0, 0, 0] = np.arange(total) + 1000 * seed
    return LabelledImages(images, {k: np.asarray(v, np.int64) for k, v in labels.items()})


def names(combinations):
    return sorted(c.describe() for c in combinations)


def test_the_paper_layout_holds_out_the_shadowed_planes_that_mirror_the_missing_one():
    train = split_of({(0, 0): 30, (0, 1): 20, (1, 0): 40, (2, 0): 30, (2, 1): 15}, [PLANES, SHADOW])
    assert names(eligible_combinations(train, [PLANES, SHADOW], "plane")) == [
        "plane 3VV, shadow with", "plane Abd, shadow with"]


def test_the_two_by_two_shapes_have_no_eligible_combination_whichever_task_is_relevant():
    background = TaskSpec("background", 2, class_names=("black", "white"))
    shape = TaskSpec("shape", 2, class_names=("circle", "rectangle"))
    train = split_of({(1, 0): 60, (1, 1): 10, (0, 1): 50}, [background, shape])
    assert eligible_combinations(train, [background, shape], "shape") == []
    assert eligible_combinations(train, [background, shape], "background") == []


@pytest.mark.parametrize("classes", [3, 4, 6])
def test_with_one_missing_cell_every_other_class_with_that_nuisance_is_eligible(classes):
    digit = TaskSpec("digit", classes)
    counts = {(d, s): 12 for d, s in itertools.product(range(classes), range(2)) if (d, s) != (1, 1)}
    train = split_of(counts, [digit, SHADOW])
    found = eligible_combinations(train, [digit, SHADOW], "digit")
    assert sorted(c.labels for c in found) == [(d, 1) for d in range(classes) if d != 1]
    assert all(c.count == 12 for c in found)


def test_rules_that_exclude_a_combination():
    digit = TaskSpec("digit", 3)
    # (2, 1) has 9 images, fewer than the 10 a combination needs by default.
    train = split_of({(0, 0): 20, (0, 1): 20, (1, 0): 20, (2, 0): 20, (2, 1): 9}, [digit, SHADOW])
    assert [c.labels for c in eligible_combinations(train, [digit, SHADOW], "digit")] == [(0, 1)]
    assert [c.labels for c in eligible_combinations(train, [digit, SHADOW], "digit", min_images=5)] == [(0, 1), (2, 1)]
    # Removing the only shadowed combination would lose the class "with": nothing is eligible.
    lone = split_of({(0, 0): 20, (0, 1): 20, (1, 0): 20, (2, 0): 20}, [digit, SHADOW])
    assert eligible_combinations(lone, [digit, SHADOW], "digit") == []
    # One task: nothing to hold out.
    assert eligible_combinations(lone, [digit], "digit") == []


def test_a_full_factorial_training_split_makes_every_combination_eligible():
    digit = TaskSpec("digit", 3)
    train = split_of({cell: 15 for cell in itertools.product(range(3), range(2))}, [digit, SHADOW])
    assert len(eligible_combinations(train, [digit, SHADOW], "digit")) == 6


def test_images_without_a_label_belong_to_no_combination():
    digit = TaskSpec("digit", 3)
    train = split_of({(0, 0): 20, (0, 1): 20, (1, 0): 20, (2, 0): 20, (2, 1): 20, (1, -1): 30}, [digit, SHADOW])
    assert [c.labels for c in eligible_combinations(train, [digit, SHADOW], "digit")] == [(0, 1), (2, 1)]


def test_the_relevant_task_defaults_to_the_one_with_most_classes():
    assert relevant_task_of([SHADOW, PLANES]) == "plane"
    assert relevant_task_of([TaskSpec("a", 2), TaskSpec("b", 2)]) == "a"
    assert relevant_task_of([SHADOW, PLANES], "shadow") == "shadow"
    with pytest.raises(ValueError, match="'nope' is not a task"):
        relevant_task_of([SHADOW, PLANES], "nope")


def _data(seed=0):
    counts = {(0, 0): 30, (0, 1): 20, (1, 0): 40, (2, 0): 30, (2, 1): 15}
    train, val = split_of(counts, [PLANES, SHADOW], seed), split_of(counts, [PLANES, SHADOW], seed + 1)
    return DatasetSplits([PLANES, SHADOW], train, val, {"val": val})


def test_the_held_out_images_are_exactly_the_combination_s_and_never_reach_training():
    data = _data()
    combination = eligible_combinations(data.train, data.tasks, "plane")[0]
    reduced, held_out = without_combination(data, combination)
    ids = lambda split: set(np.asarray(split.images)[:, 0, 0, 0].tolist())  # noqa: E731
    assert len(held_out) == 20 + 20  # training and validation images of 3VV with shadow
    assert not ids(held_out) & (ids(reduced.train) | ids(reduced.validation))
    assert ids(held_out) | ids(reduced.train) | ids(reduced.validation) == ids(data.train) | ids(data.validation)
    assert combination.mask(held_out.labels).all()
    assert list(reduced.evaluation) == ["val"]


def _score(accuracy, validation):
    return CombinationScore(None, accuracy, 10, validation, None)


def test_the_rule_takes_the_best_estimate_among_points_that_keep_validation_accuracy():
    estimates = [HeldOutEstimate("d", (_score(0.30, 0.95),)),   # best validation
                 HeldOutEstimate("d", (_score(0.60, 0.94),)),   # within 0.02: admissible, best estimate
                 HeldOutEstimate("d", (_score(0.90, 0.80),))]   # best estimate, but costs 0.15
    assert choose(estimates) == 1
    assert choose(estimates, tolerance=0.2) == 2
    tie = [HeldOutEstimate("d", (_score(0.5, 0.9),)), HeldOutEstimate("d", (_score(0.5, 0.9),))]
    assert choose(tie) == 0


def test_a_seeded_sample_is_repeatable_and_sorted():
    population = list(range(9))
    first = sample_combinations(population, 3, seed=4)
    assert first == sample_combinations(population, 3, seed=4) == sorted(first)
    assert len(set(first)) == 3
    assert sample_combinations(population[:2], 3) == [0, 1]


def test_selection_trains_every_point_without_each_combination_and_chooses_by_the_rule():
    data = _data()
    combinations = eligible_combinations(data.train, data.tasks, "plane")
    held_out_ids = {int(i) for c in combinations
                    for split in (data.train, data.validation)
                    for i in np.asarray(split.images)[c.mask(split.labels), 0, 0, 0]}
    calls = []

    def fake_train(config, reduced):
        seen = set(np.asarray(reduced.train.images)[:, 0, 0, 0].astype(int).tolist())
        seen |= set(np.asarray(reduced.validation.images)[:, 0, 0, 0].astype(int).tolist())
        held = set(np.asarray(reduced.evaluation["held_out"].images)[:, 0, 0, 0].astype(int).tolist())
        assert held <= held_out_ids and not seen & held
        weight = config.training.independence_weight
        calls.append(weight)
        # A made-up response: the penalty raises the held-out accuracy and, above 5, costs validation.
        metrics = {"held_out": {"accuracy": {"plane": 0.2 + 0.05 * weight}},
                   "val": {"accuracy": {"plane": 0.95 - (0.1 if weight > 5 else 0.0)},
                           "class_accuracy": {"plane": {"3VV": 0.9, "Abd": 0.9}}}}
        return RunResult(model=None, metrics=metrics, history={}, output_dir=None)

    points = [{"independence_weight": w} for w in (0.0, 2.0, 10.0)]
    selection = select_setting(RunConfig(), data, points, "plane", combinations, train=fake_train)
    assert calls == [0.0, 0.0, 2.0, 2.0, 10.0, 10.0]
    assert selection.chosen == 1 and selection.point == {"independence_weight": 2.0}
    assert selection.estimate.estimate == pytest.approx(0.3)
    assert selection.estimate.relative == pytest.approx(0.3 / 0.9)
    described = selection.as_dict()
    assert [p["admissible"] for p in described["points"]] == [True, True, False]
    assert described["points"][0]["combinations"][0]["labels"] == {"plane": "3VV", "shadow": "with"}


TINY = {"encoder_filters": [4, 8], "encoder_strides": [2, 2], "stem_filters": 4, "head_units": [8],
        "epochs": 1, "image_size": [16, 16], "batch_size": 20, "precise_batch_norm": 2, "adversary_steps": 1,
        "sampling": "uniform", "last_layer_retraining": False, **RESULTS_ONLY}
"""Tiny runs: one epoch, one adversary step, uniform batches, no refit, neither export nor
figures (the grid's points differ by the penalty; the choice among them is the point)."""


def _random_three_by_two(seed=0):
    """Random 16 x 16 images: 3 digits x 2 shadows, digit 1 never shadowed in training."""
    digit = TaskSpec("digit", 3)
    cells = {cell: 12 for cell in itertools.product(range(3), range(2)) if cell != (1, 1)}
    rng = np.random.default_rng(seed)

    def split(offset):
        base = split_of(cells, [digit, SHADOW], seed + offset)
        images = rng.normal(size=(len(base), 16, 16, 1)).astype(np.float32)
        images[:, 0, 0, 0] = np.asarray(base.images)[:, 0, 0, 0]
        return LabelledImages(images, base.labels)

    train, val = split(0), split(1)
    return DatasetSplits([digit, SHADOW], train, val, {"val": val})


def test_run_selected_trains_the_chosen_point_and_records_the_estimate(tmp_path, eager_runs):
    from disentangle_tf.selection.selected_run import run_selected

    data = _random_three_by_two()
    lines = []
    points = [{"independence_weight": 0.0}, {"independence_weight": 1.0}]
    config = RunConfig.from_flat_dict({**TINY, "independence_layers": "features"})
    result, selection = run_selected(config, points, output_dir=tmp_path / "run", data=data, echo=lines.append,
                                     verbose=0)
    # 3 digits x 2 shadows minus the missing cell: (0, with) and (2, with) stand in for it.
    assert [c.labels for c in (s.combination for s in selection.estimates[0].scores)] == [(0, 1), (2, 1)]
    assert all(0.0 <= e.estimate <= 1.0 for e in selection.estimates)
    written = json.loads((tmp_path / "run" / "selection.json").read_text())
    assert written["chosen"] == selection.chosen and len(written["points"]) == 2
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["held_out_combination"]["estimate"] == pytest.approx(selection.estimate.estimate)
    trained = json.loads((tmp_path / "run" / "config.json").read_text())
    assert trained["independence_weight"] == points[selection.chosen]["independence_weight"]
    assert any("2 settings x 2 of 2 eligible combinations" in line for line in lines)
    assert "val" in result.metrics


def test_without_an_eligible_combination_train_says_so_in_one_line_and_trains_as_given(tmp_path):
    from click.testing import CliRunner

    from conftest import small_synthetic

    from disentangle_tf.cli.train import main

    config = tmp_path / "tiny.json"
    # No penalty (lambda=0): what is checked is the line and a run of the configuration as given.
    config.write_text(json.dumps({k: v for k, v in TINY.items() if k != "image_size"}))
    with small_synthetic():
        result = CliRunner().invoke(main, ["--dataset", "synthetic", "--image-size", "16", "20", "--config",
                                           str(config), "--method", "lambda=0", "--selection",
                                           "held-out-combination", "--output-dir",
                                           str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    said = [i for i, line in enumerate(lines) if "no combination of the training labels" in line]
    assert len(said) == 1
    # The line, wrapped to the console's width, names the values trained instead of a grid point's.
    end = next(i for i in range(said[0] + 1, len(lines) + 1) if i == len(lines) or not lines[i].startswith("  "))
    text = " ".join(line.strip() for line in lines[said[0]:end])
    trained = json.loads((tmp_path / "out" / "config.json").read_text())
    assert "relevant task shape" in text and text.endswith(
        "training the configuration as given (independence_weight=0,independence_layers="
        f"{trained['independence_layers']})")
    assert not (tmp_path / "out" / "selection.json").exists()
    assert (tmp_path / "out" / "metrics.json").exists()


def test_reproduce_chooses_by_held_out_combination_and_records_every_point(tmp_path, monkeypatch):
    import csv
    import functools

    from conftest import small_digits

    from disentangle_tf.cli.common import run_command
    from disentangle_tf.cli.reproduce import main
    from disentangle_tf.selection import selected_run

    # One held-out combination per point (two trainings a point, not three): what is checked
    # is that every point is estimated and recorded and that the rule chooses among them;
    # averaging over several combinations is test_run_selected_trains_the_chosen_point's.
    monkeypatch.setattr(selected_run, "plan", functools.partial(selected_run.plan, count=1))
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({k: v for k, v in TINY.items() if k not in ("image_size", "epochs", "batch_size")}
                                 | {"adversary_steps": 1}))
    output = tmp_path / "out"
    with small_digits():
        run_command(main, args=["digits-shadow", "--methods", "paper grid", "--seeds", "3-3", "--selection",
                                "held-out-combination", "--epochs", "1", "--image-size", "16", "16", "--batch-size",
                                "50", "--config", str(config), "--output-dir", str(output)],
                    prog_name="python -m disentangle_tf.reproduce")
    with open(output / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    measures = {(row["split"], row["measure"]): float(row["value"]) for row in rows}
    labels = ["adversarial_weight=0.01", "adversarial_weight=0.1"]
    for label in labels:
        assert 0 <= measures[("selection", f"point:{label}|held_out_estimate")] <= 1
        assert ("selection", f"point:{label}|held_out_validation") in measures
        # Every point's own model is scored on the unseen combination too (recorded, not used to choose).
        assert ("unseen", f"point:{label}|accuracy:digit") in measures
    estimates = [measures[("selection", f"point:{label}|held_out_estimate")] for label in labels]
    validation = [measures[("selection", f"point:{label}|held_out_validation")] for label in labels]
    admissible = [i for i in range(2) if validation[i] >= max(validation) - 0.02]
    expected = max(admissible, key=lambda i: (estimates[i], -i))
    assert measures[("val", "chosen:adversarial_weight")] == [0.01, 0.1][expected]


def test_without_an_eligible_combination_a_comparison_keeps_the_method_s_own_setting_as_train_does():
    from disentangle_tf.experiments.grid_selection import fallback_point
    from disentangle_tf.run.methods import METHODS, RECOMMENDED

    method = METHODS["selected"]
    grid = method.grid()
    index = fallback_point(method, grid, results=None)
    assert {k: grid[index][k] for k in RECOMMENDED} == RECOMMENDED
    # A grid of list values (paper grid) has no such point: the best mean validation accuracy wins.
    paper = METHODS["paper grid"]
    results = [RunResult(None, {"val": {"accuracy": {"a": a, "b": 1.0}}}, {}, None) for a in (0.5, 0.7)]
    assert fallback_point(paper, paper.grid(), results) == 1


def test_least_leakage_takes_the_point_that_leaks_least_among_those_that_keep_validation_accuracy():
    from disentangle_tf.selection.grid import choose_least_leakage

    assert choose_least_leakage([0.90, 0.89, 0.80], [0.30, 0.10, 0.00]) == 1
    assert choose_least_leakage([0.90, 0.89, 0.80], [0.30, None, 0.00]) == 0
    assert choose_least_leakage([0.90, 0.90], [0.1, 0.1]) == 0


def test_train_least_leakage_trains_each_point_then_the_chosen_one_and_writes_its_choice(tmp_path, eager_runs):
    from disentangle_tf.selection.selected_run import run_selected

    data = _random_three_by_two(seed=1)
    points = [{"independence_weight": 0.0}, {"independence_weight": 1.0}]
    config = RunConfig.from_flat_dict({**TINY, "independence_layers": "features"})
    lines = []
    result, estimate = run_selected(config, points, output_dir=tmp_path / "run", data=data, echo=lines.append,
                                    rule="least-leakage", verbose=0)
    assert estimate is None
    written = json.loads((tmp_path / "run" / "selection.json").read_text())
    validation = [p["validation_accuracy"] for p in written["points"]]
    leakage = [p["leakage"] for p in written["points"]]
    admissible = [i for i in range(2) if validation[i] >= max(validation) - 0.02]
    expected = min(admissible, key=lambda i: (float("inf") if leakage[i] is None else leakage[i], i))
    assert written["chosen"] == expected
    trained = json.loads((tmp_path / "run" / "config.json").read_text())
    assert trained["independence_weight"] == points[expected]["independence_weight"]


def test_two_rules_over_one_grid_in_a_comparison_train_each_point_once(monkeypatch, tmp_path, eager_runs):
    import disentangle_tf.run.training as training
    from disentangle_tf.experiments.reproduce import run_seed
    from disentangle_tf.run.methods import Method

    trained, real = [], training.run

    def counting(config, *args, **kwargs):
        trained.append(config.to_flat_dict()["independence_weight"])
        return real(config, *args, **kwargs)

    monkeypatch.setattr(training, "run", counting)
    where = {"independence_layers": "features"}
    points = ({"independence_weight": 0.0}, {"independence_weight": 1.0})
    # A row of one setting, then two rows whose grid holds that setting and one more.
    methods = [Method("one", {**where, "independence_weight": 1.0}, ""),
               *(Method(name, where, "", points=points, selection="least-leakage") for name in ("first", "second"))]
    rows, _ = run_seed("csv", RunConfig.from_flat_dict(TINY), 3, methods, tmp_path, echo=lambda line: None,
                       data=_random_three_by_two())
    assert sorted(trained) == [0.0, 1.0]
    shared = "point:independence_weight=1|accuracy:digit"
    val = {r["method"] if r["method"] == "one" else r["measure"]: r["value"] for r in rows
           if r["split"] == "val" and r["measure"] in ("accuracy:digit", shared)}
    assert val["one"] == val[shared]

    def point_rows(method):
        return {(r["split"], r["measure"]): r["value"] for r in rows
                if r["method"] == method and r["measure"].startswith("point:")}

    assert len(point_rows("first")) >= 4 and point_rows("first") == point_rows("second")


@pytest.mark.parametrize("arguments, rule", [
    ([], "held-out-combination"),  # the default method
    (["--method", "selected"], "held-out-combination"),
    (["--method", "selected by leakage"], "least-leakage"),
    (["--selection", "least-leakage"], "least-leakage"),  # an explicit rule replaces the method's
    (["--method", "recommended", "--selection", "held-out-combination"], "held-out-combination"),
    (["--method", "selected by leakage", "--selection", "held-out-combination"], "held-out-combination"),
])
def test_train_chooses_by_the_method_s_rule_or_the_option_s(monkeypatch, tmp_path, arguments, rule):
    from click.testing import CliRunner

    from disentangle_tf.cli import train as train_command
    from disentangle_tf.run.methods import SELECTION_GRID
    from disentangle_tf.selection import selected_run

    seen = {}

    def stand_in(config, points, rule, **kwargs):
        seen.update(points=points, rule=rule)
        raise SystemExit(0)

    monkeypatch.setattr(selected_run, "run_selected", stand_in)
    result = CliRunner().invoke(train_command.main, [*arguments, "--output-dir", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert seen == {"points": SELECTION_GRID, "rule": rule}


@pytest.mark.parametrize("given, kept", [
    (["--independence-layers", "features"], [0, 1]),
    (["--set", "independence_layers=block_maps"], [2, 3]),
    (["--independence-weight", "10"], [1, 3]),
    ("config independence_weight: 10.0", [1, 3]),
    ("config independence-layers: features", [0, 1]),  # dashes read as underscores, as everywhere
    (["--set", "independence-weight=10"], [1, 3]),
])
def test_a_value_given_for_a_key_of_the_grid_keeps_the_points_that_have_it(monkeypatch, tmp_path, given, kept):
    from click.testing import CliRunner

    from disentangle_tf.cli import train as train_command
    from disentangle_tf.run.methods import SELECTION_GRID
    from disentangle_tf.selection import selected_run

    seen = {}

    def stand_in(config, points, rule, **kwargs):
        seen.update(points=points, config=config)
        raise SystemExit(0)

    if isinstance(given, str):  # a config file's key: as the option's
        (tmp_path / "c.yaml").write_text(given.split(" ", 1)[1])
        given = ["--config", str(tmp_path / "c.yaml")]
    monkeypatch.setattr(selected_run, "run_selected", stand_in)
    result = CliRunner().invoke(train_command.main, [*given, "--output-dir", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert seen["points"] == tuple(SELECTION_GRID[k] for k in kept)
    assert "of the grid of 4 that have it" in " ".join(result.output.split())
    assert f"chosen below from a grid of 2" in " ".join(result.output.split())


@pytest.mark.parametrize("given, weight, layers, said", [
    (["--independence-weight", "3"], 3.0, "block_maps", "no point of the grid of 4 has it; training the "
                                                         "configuration as given"),
    (["--independence-weight", "2"], 2.0, "block_maps", "one point of the grid of 4 has it, "
                                                        "independence_weight=2,independence_layers=block_maps"),
    (["--independence-weight", "0", "--set", "independence_layers=block_maps"], 0.0, "block_maps",
     "no point of the grid"),
    (["--independence-weight", "0"], 0.0, "features", "one point of the grid of 4 has it"),
])
def test_a_value_no_two_points_have_is_trained_without_a_selection(monkeypatch, tmp_path, given, weight, layers,
                                                                   said):
    from click.testing import CliRunner

    from disentangle_tf.cli import train as train_command
    from disentangle_tf.run import training
    from disentangle_tf.selection import selected_run

    trained = []

    def once(config, **kwargs):
        trained.append((config.training.independence_weight, config.training.independence_layers))
        raise SystemExit(0)

    monkeypatch.setattr(selected_run, "run_selected", lambda *args, **kwargs: pytest.fail("selected"))
    monkeypatch.setattr(training, "run", once)
    result = CliRunner().invoke(train_command.main, [*given, "--output-dir", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert trained == [(weight, layers)]
    assert said in " ".join(result.output.split())


@pytest.mark.parametrize("arguments", [["--selection", "none"], ["--method", "recommended"]])
def test_train_trains_once_without_a_rule(monkeypatch, tmp_path, arguments):
    from click.testing import CliRunner

    from disentangle_tf.cli import train as train_command
    from disentangle_tf.run import training
    from disentangle_tf.selection import selected_run

    trained = []

    def once(config, **kwargs):
        trained.append(config.training.independence_weight)
        raise SystemExit(0)

    monkeypatch.setattr(selected_run, "run_selected", lambda *args, **kwargs: pytest.fail("selected"))
    monkeypatch.setattr(training, "run", once)
    result = CliRunner().invoke(train_command.main, [*arguments, "--output-dir", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert trained == [10.0]  # the recommended setting's weight, trained as given


@pytest.mark.parametrize("backup,overwrite", [(False, False), (True, False), (True, True)])
def test_an_interrupted_train_says_whether_the_same_command_resumes_or_starts_again(monkeypatch, tmp_path, backup,
                                                                                   overwrite):
    from click.testing import CliRunner

    from disentangle_tf.cli import train as train_command
    from disentangle_tf.selection import selected_run

    out = tmp_path / "out"

    def interrupted(config, points, output_dir=None, **kwargs):
        if backup:  # as a run stopped after its first epoch's backup
            (output_dir / "backup").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(selected_run, "run_selected", interrupted)
    result = CliRunner().invoke(train_command.main, ["--output-dir", str(out), "--quiet"] + ["--overwrite"] * overwrite)
    assert result.exit_code == 130, result.output
    last = result.output.strip().splitlines()[-1]
    if overwrite:  # run again as it was, the command would start the run again
        assert last == (f"interrupted: the same command without --overwrite resumes after the last saved epoch "
                        f"(with it, the run starts again), in {out}")
    elif backup:
        assert last == f"interrupted: the same command resumes after the last saved epoch, in {out}"
    else:  # a selection's held-out trainings write nothing: there is nothing to resume
        assert last == f"interrupted before a finished epoch of {out} was saved: the same command starts again"
