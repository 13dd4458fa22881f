"""A manifest's splits: validation carved out of training by whole groups, and warnings
about splits sharing groups with training or classes too rare to learn."""

from __future__ import annotations

import pathlib

import numpy as np
import pandas as pd

from .manifest_cells import row_and_line


def carve_validation(
    frame: pd.DataFrame, tasks, fraction: float, seed: int, groups: np.ndarray | None = None
) -> np.ndarray:
    """Training rows chosen for validation: a seeded, stratified ``fraction``, whole groups.

    Every group (``groups[i]`` names row ``i``'s group; ``None``: each row is its own
    group) goes wholly to validation or stays wholly in training. A group's stratum is
    the combination of task labels most of its rows have (ties: the first in sorted
    order). Groups are ordered by stratum and, within it, randomly; walking that order,
    a group is chosen when taking it leaves the number of chosen rows at least as close
    to ``fraction`` of the rows walked so far (rounded) as leaving it would. The split
    thus takes ``fraction`` of the rows to within about half the largest group, and each
    stratum gives up its share to within about one group; with one row per group (as
    without ``groups``), to within one row.

    Returns:
        The chosen rows' positions in ``frame``, sorted (int64).
    """
    train = np.flatnonzero(frame["split"].to_numpy() == "train")
    if len(train) == 0:
        return train
    rng = np.random.default_rng(seed)
    strata = frame.iloc[train][list(tasks)].astype(str).agg("\x1f".join, axis=1).to_numpy()
    if groups is None:
        group_of = np.arange(len(train))
    else:
        names = pd.Series(np.asarray(groups)[train])
        group_of = pd.factorize(names)[0]  # numbered by first appearance
    count = int(group_of.max()) + 1
    sizes = np.bincount(group_of, minlength=count)
    majority = (
        pd.DataFrame({"group": group_of, "stratum": strata})
        .value_counts()
        .rename("rows")
        .reset_index()
        .sort_values(["group", "rows", "stratum"], ascending=[True, False, True])
        .drop_duplicates("group")
        .sort_values("group")["stratum"]
        .to_numpy()
    )
    order = np.lexsort((rng.random(count), majority))
    chosen = np.zeros(count, dtype=bool)
    walked = taken = 0
    for group in order:
        walked += int(sizes[group])
        target = int(np.floor(walked * fraction + 0.5))
        if 2 * taken + sizes[group] <= 2 * target:
            chosen[group] = True
            taken += int(sizes[group])
    return np.sort(train[chosen[group_of]])


def _shared_with_training(split: np.ndarray, values: np.ndarray) -> dict:
    """Per split other than ``"train"``, the values (groups, paths) it shares with the
    training split, in the order of their first row; splits sharing none are left out."""
    in_train = set(values[split == "train"])
    shared = {}
    for name in dict.fromkeys(split):
        if name != "train":
            found = [v for v in dict.fromkeys(values[split == name]) if v in in_train]
            if found:
                shared[name] = found
    return shared


def spanning_groups(source: pathlib.Path, frame: pd.DataFrame, groups: np.ndarray, column: str) -> list[str]:
    """One warning per split sharing groups with the training split of the manifest."""
    return [f"{source}: {len(shared)} group(s) of column {column!r} have rows in split 'train' and in split "
            f"{name!r} (first: {sorted(shared)[0]!r}); {name!r} is not independent of training"
            for name, shared in _shared_with_training(frame["split"].to_numpy(), groups).items()]


def repeated_paths(source: pathlib.Path, frame: pd.DataFrame) -> list[str]:
    """Warnings about image files listed in more than one row of the manifest (after the
    validation split is carved out): one per split that shares files with training (as
    :func:`spanning_groups` for groups), and one for files repeated within a split. Each
    row stays an image of its own; the warning says that it is not a new one."""
    split = frame["split"].to_numpy()
    paths = frame["path"].to_numpy()
    messages = [f"{source}: {len(shared)} image file(s) are listed in split 'train' and in split {name!r} "
                f"(first: {shared[0]}); {name!r} is not independent of training"
                for name, shared in _shared_with_training(split, paths).items()]
    rows: dict[tuple, list[int]] = {}
    for index, key in enumerate(zip(split, paths)):
        rows.setdefault(key, []).append(index)
    repeated = [(key, found) for key, found in rows.items() if len(found) > 1]
    if repeated:
        (name, path), found = repeated[0]
        messages.append(f"{source}: {len(repeated)} image file(s) are listed more than once within a split "
                        f"(first: {path}, rows {found[0] + 1} and {found[1] + 1}, both in split {name!r}); "
                        "each row counts as an image of its own")
    return messages


def _row(frame: pd.DataFrame, where) -> str:
    """``"row R (line L)"`` of the first manifest row of ``frame`` where ``where`` holds."""
    return row_and_line(int(frame["row"].to_numpy()[np.flatnonzero(where)[0]]))


def rare_classes(source: pathlib.Path, frame: pd.DataFrame, class_names, tasks) -> list[str]:
    """One warning per class with fewer than two training images, naming its first row
    (a label spelt wrong in one row is a class of one image)."""
    split = frame["split"].to_numpy()
    messages = []
    for task in tasks:
        labels = frame[task].to_numpy()
        for k, name in enumerate(class_names[task]):
            count = int(np.sum(labels[split == "train"] == k))
            if count >= 2:
                continue
            elsewhere = {s: int(np.sum(labels[split == s] == k)) for s in dict.fromkeys(split) if s != "train"}
            elsewhere = ", ".join(
                f"{s!r} ({n} image{'' if n == 1 else 's'})" for s, n in elsewhere.items() if n
            )
            if count == 0 and elsewhere:
                messages.append(
                    f"{source}: task {task!r}: class {name!r} has no training image but appears in {elsewhere} "
                    f"(first: {_row(frame, labels == k)})"
                )
            else:
                image = "image" if count == 1 else "images"
                first = f": {_row(frame, (labels == k) & (split == 'train'))}" if count else ""
                messages.append(
                    f"{source}: task {task!r}: class {name!r} has {count} training {image} "
                    f"(fewer than 2{first})"
                )
    return messages


def lookalike_classes(source: pathlib.Path, class_names, tasks, frame: pd.DataFrame | None = None) -> list[str]:
    """One warning per set of class names of a task that differ only in case (``3VV``
    and ``3vv``): most likely one class spelt two ways, trained as two."""
    messages = []
    for task in tasks:
        spellings: dict[str, list[str]] = {}
        for name in class_names[task]:
            spellings.setdefault(str(name).casefold(), []).append(str(name))
        for names in spellings.values():
            if len(names) > 1:
                listed = " and ".join(repr(n) for n in names)
                if frame is not None:  # where each spelling is first found
                    labels = frame[task].to_numpy()
                    listed += " (first in " + " and ".join(
                        _row(frame, labels == list(map(str, class_names[task])).index(n)) for n in names) + ")"
                messages.append(f"{source}: task {task!r}: classes {listed} differ only in case and are "
                                "trained as different classes; if they are one, spell them alike in the manifest")
    return messages
