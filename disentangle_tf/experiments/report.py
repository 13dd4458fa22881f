"""Results tables of a comparison over seeds, and the statistics that decide it.

``python -m disentangle_tf.reproduce`` writes ``results.csv`` (one row per method, seed,
split and measure) and, through :func:`write_summary`, ``summary.md``. A long
comparison can run in parts (``--methods``, ``--seeds``) whose directories
``python -m disentangle_tf.report`` merges into one table::

    python -m disentangle_tf.report runs/part1 runs/part2 --output-dir runs/merged

Every cell is the mean ± sample standard deviation over seeds. Each method's gain over
``lambda=0`` on the data set's headline measure (unseen shape or digit accuracy; plane
accuracy on LVOT with shadow) is the mean of the per-seed paired differences, with a 95 %
percentile bootstrap confidence interval over seeds (Efron & Tibshirani, "An
Introduction to the Bootstrap", 1993) and the two-sided Wilcoxon signed-rank p value;
it is called significant when the interval excludes 0 and the Wilcoxon p value is below
0.05 (with few seeds the bootstrap interval alone is too narrow to trust).
"""

from __future__ import annotations

import csv
import json
import pathlib

import numpy as np

from ..errors import UserError
from ..run.config import KEYS_ADDED_LATER
from ..run.config_values import one_string_as_list
from ..run.options import OPTIONS

FIELDS = ("method", "seed", "split", "measure", "value")

#: Per data set: the headline measure ``(split, measure)``, the test splits whose task
#: accuracies must stay high, and the baseline of the paired comparison.
HEADLINES = {
    "synthetic": {"measure": ("unseen", "accuracy:shape"), "label": "unseen shape accuracy",
                  "test": "test", "threshold": 0.85},
    "us-sim": {"measure": ("lvot_with_shadow", "accuracy:plane"), "label": "LVOT(W S) plane accuracy",
               "test": "test_seen", "threshold": 0.5},
    **{name: {"measure": ("unseen", "accuracy:digit"), "label": "unseen digit accuracy", "test": "test",
              "threshold": 0.85} for name in ("digits-shadow", "digits-texture")},
}
BASELINE = "lambda=0"
BOOTSTRAP_RESAMPLES = 10_000


def write_results(path, rows) -> None:
    """``rows`` (dicts with :data:`FIELDS`) as CSV."""
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "value": f"{float(row['value']):.6g}"})


def read_results(path) -> list[dict]:
    """The rows of a ``results.csv``; UserError naming the file if it is not one."""
    path = pathlib.Path(path)
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None:
                raise UserError(f"{path}: empty file; expected the columns {', '.join(FIELDS)}")
            if tuple(reader.fieldnames) != FIELDS:
                raise UserError(f"{path}: expected the columns {', '.join(FIELDS)}; got {reader.fieldnames}")
            rows = []
            for number, row in enumerate(reader, start=2):
                try:
                    rows.append({**row, "seed": int(row["seed"]), "value": float(row["value"])})
                except ValueError:
                    raise UserError(f"{path}, row {number}: seed must be an integer and value a number") from None
            return rows
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror})") from None


# ---------------------------------------------------------------------- statistics
def paired_difference(method_values: dict, baseline_values: dict, resamples: int = BOOTSTRAP_RESAMPLES,
                      seed: int = 0) -> dict | None:
    """Paired comparison over the seeds both have.

    Args:
        method_values: ``{seed: value}`` of the method.
        baseline_values: ``{seed: value}`` of the baseline.
        resamples: bootstrap resamples of the seeds.
        seed: seed of the resampling.

    Returns:
        ``{"seeds", "mean", "low", "high", "wilcoxon_p", "significant"}`` (the 95 %
        percentile bootstrap interval of the mean difference; ``significant`` when it
        excludes 0 and the Wilcoxon p is below 0.05), or None with fewer than two
        common seeds.
    """
    common = sorted(set(method_values) & set(baseline_values))
    if len(common) < 2:
        return None
    differences = np.array([method_values[s] - baseline_values[s] for s in common])
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, len(differences), (resamples, len(differences)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    if np.allclose(differences, 0):
        p_value = 1.0
    else:
        from scipy.stats import wilcoxon

        p_value = float(wilcoxon(differences).pvalue)
    return {"seeds": len(common), "mean": float(differences.mean()), "low": float(low), "high": float(high),
            "wilcoxon_p": p_value, "significant": bool((low > 0 or high < 0) and p_value < 0.05)}


# ---------------------------------------------------------------------- tables
def _aggregate(rows):
    """``{(method, split, measure): [values over seeds]}``."""
    table: dict[tuple, list[float]] = {}
    for row in rows:
        table.setdefault((row["method"], row["split"], row["measure"]), []).append(float(row["value"]))
    return table


def _by_seed(rows, method, split, measure) -> dict:
    return {int(r["seed"]): float(r["value"]) for r in rows
            if r["method"] == method and r["split"] == split and r["measure"] == measure}


def _cell(values, percent=False) -> str:
    if not values:
        return "-"
    scale = 100.0 if percent else 1.0
    mean = float(np.mean(values)) * scale
    std = float(np.std(values, ddof=1)) * scale if len(values) > 1 else 0.0
    return f"{mean:.1f} ± {std:.1f}" if percent else f"{mean:.2f} ± {std:.2f}"


def _markdown(header, body) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return lines + [""]


def manifest_headline(split: str, task: str, test_split: str | None = None) -> dict:
    """The headline of a manifest's comparison: ``task``'s accuracy on ``split`` (the
    accuracies of ``test_split``, the first test split by default, must stay high)."""
    return {"measure": (split, f"accuracy:{task}"), "label": f"{split} {task} accuracy",
            "test": test_split or split, "threshold": 0.5}


def headline_table(rows, dataset, method_names, spec: dict | None = None) -> list[str]:
    """Per seed the headline measure; its mean, the seeds above the threshold, the
    lowest test accuracy of any task, and the paired difference to lambda=0.

    ``spec`` (in the layout of :data:`HEADLINES`) defaults to the data set's."""
    spec = spec or HEADLINES[dataset]
    split, measure = spec["measure"]
    seeds = sorted({int(r["seed"]) for r in rows})
    baseline = _by_seed(rows, BASELINE, split, measure)
    header = ["method", *[f"seed {s}" for s in seeds], "mean ± sd", f"seeds >= {spec['threshold']:g}",
              f"lowest {spec['test']} accuracy", f"paired difference to {BASELINE} [95 % CI]", "Wilcoxon p",
              "significant"]
    body = []
    for method in method_names:
        values = _by_seed(rows, method, split, measure)
        if not values:
            continue
        tests = [float(r["value"]) for r in rows if r["method"] == method and r["split"] == spec["test"]
                 and r["measure"].startswith("accuracy:") and "|" not in r["measure"]]
        comparison = None if method == BASELINE else paired_difference(values, baseline)
        body.append([
            method, *[f"{values[s]:.2f}" if s in values else "-" for s in seeds],
            _cell(list(values.values())),
            f"{sum(v >= spec['threshold'] for v in values.values())} / {len(values)}",
            f"{min(tests):.3f}" if tests else "-",
            "-" if comparison is None else
            f"{comparison['mean']:+.2f} [{comparison['low']:+.2f}, {comparison['high']:+.2f}]",
            "-" if comparison is None else f"{comparison['wilcoxon_p']:.3g}",
            "-" if comparison is None else ("yes" if comparison["significant"] else "no"),
        ])
    lines = [f"## Headline: {spec['label']} per seed", ""]
    return lines + _markdown(header, body)


def _probe_table(table, method_names, pairs, split) -> list[str]:
    header = ["method"]
    keys = []
    for pair in pairs:
        for kind in ("linear", "mlp"):
            header.append(f"{pair} {kind}")
            keys.append(f"probe_{kind}:{pair}")
            header.append(f"{pair} {kind} within")
            keys.append(f"probe_{kind}_within_mean:{pair}")
        header.append(f"{pair} chance")
        keys.append(f"probe_chance:{pair}")
    # Columns no method has on this split (within-class probes where a class is missing) are left out.
    shown = [c for c, k in enumerate(keys) if any((m, split, k) in table for m in method_names)]
    body = [[m, *[_cell(table.get((m, split, keys[c]), [])) for c in shown]] for m in method_names
            if any((m, split, k) in table for k in keys)]
    return _markdown(["method", *[header[c + 1] for c in shown]], body)


def synthetic_tables(table, method_names) -> list[str]:
    """Task accuracy (relevant, and irrelevant through the adversaries) and probes."""
    columns = [
        ("background, test", "test", "accuracy:background"),
        ("shape, test", "test", "accuracy:shape"),
        ("background, unseen", "unseen", "accuracy:background"),
        ("shape, unseen", "unseen", "accuracy:shape"),
        ("shape, unseen_val (oracle selection set)", "unseen_val", "accuracy:shape"),
        ("irrelevant background (shape features), test", "test", "adversary_accuracy:shape->background"),
        ("irrelevant shape (background features), test", "test", "adversary_accuracy:background->shape"),
        ("irrelevant shape (background features), unseen", "unseen", "adversary_accuracy:background->shape"),
    ]
    body = [[m, *[_cell(table.get((m, s, k), []), percent=True) for _, s, k in columns]] for m in method_names]
    lines = ["## Task accuracy, % (relevant task; irrelevant task through the model's adversaries)", ""]
    lines += _markdown(["method", *[c for c, _, _ in columns]], body)
    pairs = ["shape->background", "background->shape"]
    for split in ("test", "unseen"):
        lines += [f"## Leakage probes on {split} (balanced accuracy; fitted on val; "
                  "'within': mean over classes of the features' own task)", ""]
        lines += _probe_table(table, method_names, pairs, split)
    return lines


def us_sim_tables(table, method_names) -> list[str]:
    """The paper's Table 2 layout, then the probes."""
    planes, shadows = ("3VV", "LVOT", "Abd"), ("without", "with")
    columns = [(p, "test_seen", f"accuracy:plane|{p}") for p in planes]
    columns += [("OA", "test_seen", "accuracy:plane")]
    columns += [({"without": "W/O S", "with": "W S"}[s], "test_seen", f"accuracy:shadow|{s}") for s in shadows]
    columns += [("OA", "test_seen", "accuracy:shadow"), ("LVOT(W S)", "lvot_with_shadow", "accuracy:plane"),
                ("OTHS", "others", "accuracy:shadow")]
    body = [[m, *[_cell(table.get((m, s, k), []), percent=True) for _, s, k in columns]] for m in method_names]
    adversary = {"accuracy:plane": "adversary_accuracy:shadow->plane",
                 "accuracy:shadow": "adversary_accuracy:plane->shadow"}
    for m in method_names:
        if m in ("lambda=0", "plane only", "artifacts only") or (m, "test_seen", adversary["accuracy:plane"]) not in table:
            continue
        cells = []
        for _, s, k in columns:
            task_key, _, cls = k.partition("|")
            if s != "test_seen":
                cells.append("-")
                continue
            key = adversary[task_key] + (f"|{cls}" if cls else "")
            cells.append(_cell(table.get((m, s, key), []), percent=True))
        body.append([f"{m}, irrelevant features", *cells])
    lines = ["## Table 2 layout: accuracy %, plane task | shadow task on test_seen, plane on "
             "LVOT(W S), shadow on Others", ""]
    lines += _markdown(["method", *[c for c, _, _ in columns]], body)
    pairs = ["shadow->plane", "plane->shadow"]
    for split in ("test_seen", "lvot_with_shadow", "others"):
        lines += [f"## Leakage probes on {split} (balanced accuracy; fitted on val; "
                  "'within': mean over classes of the features' own task)", ""]
        lines += _probe_table(table, method_names, pairs, split)
    return lines


def manifest_tables(table, method_names, splits) -> list[str]:
    """The paper's Table 2 layout for any manifest: per evaluation split, each task's
    per-class and overall accuracy (columns no method has, such as a task without
    labels in a split, are left out), then the probes."""
    lines = []
    tasks = sorted({k.split(":", 1)[1] for (_, _, k) in table if k.startswith("accuracy:") and "|" not in k})
    for split in splits:
        columns = []
        for task in tasks:
            classes = sorted({k.split("|", 1)[1] for (_, s, k) in table
                              if s == split and k.startswith(f"accuracy:{task}|")})
            columns += [(f"{task} {c}", f"accuracy:{task}|{c}") for c in classes]
            columns.append((f"{task} OA", f"accuracy:{task}"))
        columns = [(name, key) for name, key in columns if any((m, split, key) in table for m in method_names)]
        if not columns:
            continue
        body = [[m, *[_cell(table.get((m, split, k), []), percent=True) for _, k in columns]] for m in method_names]
        lines += [f"## Table 2 layout, {split}: accuracy % per task and class (OA: overall)", ""]
        lines += _markdown(["method", *[name for name, _ in columns]], body)
    pairs = sorted({k.split(":", 1)[1] for (_, _, k) in table if k.startswith("probe_chance:")})
    for split in splits[1:]:
        lines += [f"## Leakage probes on {split} (balanced accuracy; fitted on val; "
                  "'within': mean over classes of the features' own task)", ""]
        lines += _probe_table(table, method_names, pairs, split)
    return lines


def _grid_choices(rows) -> list[str]:
    """``- method: seed 3: independence_weight=2, independence_layers=block_maps; seed 4: ...``"""
    chosen: dict[str, dict[int, list[str]]] = {}
    for r in rows:
        if r["measure"].startswith("chosen:"):
            # A choice among names is recorded as chosen:<key>=<name>, value 1.
            setting = r["measure"][7:]
            text = setting if "=" in setting else f"{setting}={r['value']:g}"
            chosen.setdefault(r["method"], {}).setdefault(int(r["seed"]), []).append(text)
    if not chosen:
        return []
    lines = ["## Grid choices", ""]
    lines += [f"- {method}: " + "; ".join(f"seed {seed}: {', '.join(values)}" for seed, values in seeds.items())
              for method, seeds in chosen.items()]
    return lines + [""]


def write_summary(path, dataset: str, rows, method_names, info: dict) -> None:
    """``summary.md``: the headline table, the task and probe tables, the grid choices.

    Args:
        path: the file to write.
        dataset: ``"synthetic"``, ``"us-sim"``, ``"digits-shadow"``, ``"digits-texture"``, ``"csv"`` or ``"hdf5"``.
        rows: the results rows.
        method_names: the methods in table order.
        info: ``{"parts": [{"methods", "seeds", "seconds", "selection", "settings"}]}``,
            one entry per run that produced the rows.
    """
    table = _aggregate(rows)
    seeds = sorted({int(r["seed"]) for r in rows})
    lines = [f"# Reproduction: {dataset}, {len(seeds)} seed(s)", "",
             f"Seeds {', '.join(str(s) for s in seeds)}; every cell is the mean ± standard deviation over seeds "
             "(sample standard deviation; 0 for one seed).", ""]
    for number, part in enumerate(info.get("parts", []), start=1):
        lines += [f"Part {number}: methods {', '.join(part['methods'])}; seeds "
                  f"{', '.join(str(s) for s in part['seeds'])}; {part['seconds']:.0f} s; model selection: "
                  + ("oracle selection (the unseen-combination validation set)" if part["selection"] == "oracle"
                     else "validation split") + ".", ""]
        lines += ["Settings shared by the part's methods (each method's own settings, "
                  "`disentangle_tf.run.methods`, replace theirs): `" + json.dumps(part["settings"]) + "`", ""]
    splits = sorted(dict.fromkeys(r["split"] for r in rows if not r["measure"].startswith(("chosen:", "selection"))),
                    key=lambda split: split != "val")  # val first, then the order of the rows
    if dataset not in HEADLINES:  # a user's file: its splits and headline are read from the rows
        headline = next((part["headline"] for part in info.get("parts", []) if part.get("headline")), None)
        if headline is not None:
            tests = [s for s in splits if s != "val"]
            lines += headline_table(rows, dataset, method_names,
                                    manifest_headline(*headline, test_split=tests[0] if tests else None))
        lines += _grid_choices(rows)
        lines += manifest_tables(table, method_names, ["val", *[s for s in splits if s != "val"]])
    else:
        lines += headline_table(rows, dataset, method_names)
        lines += _grid_choices(rows)
        tables = {"synthetic": synthetic_tables, "us-sim": us_sim_tables}.get(dataset)  # digits: as a manifest's
        lines += tables(table, method_names) if tables else manifest_tables(table, method_names, splits)
    pathlib.Path(path).write_text("\n".join(lines))


# ---------------------------------------------------------------------- merging
#: Settings a comparison varies itself, and one that changes how the data are read, not what
#: they hold: parts of one comparison may differ in them.
VARIED_BY_A_COMPARISON = ("seed", "ensemble_member", "memory_budget")

#: Settings that parts of one comparison must share, from the table of options: those of the
#: data section (where the images and labels come from and how they are read) and every
#: other hyper-parameter, but those a method sets (a part's recorded settings are those
#: before its methods') and :data:`VARIED_BY_A_COMPARISON`.
SHARED_SETTINGS = tuple(option.key for option in OPTIONS
                        if (option.section == "data" or option.hyperparameter) and not option.method_decides
                        and option.key not in VARIED_BY_A_COMPARISON)


def _check_shared_settings(parts_of: list) -> None:
    """UserError naming the first shared setting two directories' parts differ in."""
    first = {}
    for directory, part in parts_of:
        for key in SHARED_SETTINGS:
            # A part recorded before a setting existed had the value KEYS_ADDED_LATER gives.
            value = one_string_as_list(key, (part.get("settings") or {}).get(key, KEYS_ADDED_LATER.get(key)))
            if key not in first:
                first[key] = (value, directory)
            elif value != first[key][0]:
                raise UserError(f"{directory}: {key} {json.dumps(value)} where {first[key][1]} has "
                                f"{json.dumps(first[key][0])}; the parts of one comparison must share it")


def collect(directories) -> tuple[str, list[dict], list[dict]]:
    """The data set, rows and parts of several reproduce runs (parts of one comparison).

    Raises:
        UserError: if a directory lacks its files, the runs are of different data sets or
            differ in a setting of :data:`SHARED_SETTINGS` (image size, epochs, ...), or two
            runs hold the same method and seed.
    """
    rows, parts, datasets, owner, parts_of = [], [], set(), {}, []
    resolved = [pathlib.Path(d).resolve() for d in directories]
    for number, path in enumerate(resolved):
        if path in resolved[:number]:
            raise UserError(f"{directories[number]}: given twice; its methods and seeds are also in the first")
    for directory in map(pathlib.Path, directories):
        info_path = directory / "run.json"
        if not info_path.is_file() or not (directory / "results.csv").is_file():
            raise UserError(f"{directory}: expected results.csv and run.json of a reproduce run")
        try:
            info = json.loads(info_path.read_text())
            datasets.add(info["dataset"])
            directory_parts = list(info["parts"])
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{info_path}: not the run.json of a reproduce run") from None
        if len(datasets) != 1:
            raise UserError(f"the runs are of different data sets: {', '.join(sorted(datasets))}")
        parts_of += [(directory, part) for part in directory_parts if isinstance(part, dict)]
        _check_shared_settings(parts_of)
        for row in read_results(directory / "results.csv"):
            key = (row["method"], row["seed"])
            if owner.setdefault(key, directory) != directory:
                raise UserError(f"{directory}: method {row['method']!r} seed {row['seed']} is also in {owner[key]}")
            rows.append(row)
        parts.extend(directory_parts)
    if not datasets:
        raise UserError("no reproduce run given")
    return datasets.pop(), rows, parts


def write_all(output_dir, dataset: str, rows, parts) -> None:
    """``results.csv``, ``run.json`` and ``summary.md`` of a comparison into ``output_dir``."""
    output_dir = pathlib.Path(output_dir)
    methods = list(dict.fromkeys(m for part in parts for m in part["methods"]))
    write_results(output_dir / "results.csv", rows)
    (output_dir / "run.json").write_text(json.dumps({"dataset": dataset, "parts": parts}, indent=2) + "\n")
    write_summary(output_dir / "summary.md", dataset, rows, methods, {"parts": parts})
