"""The output directory of a run: what it holds and how it is (re)claimed."""

from __future__ import annotations

import json
import os
import pathlib
import shutil

from ..errors import ConfigError
from .config import KEYS_ADDED_LATER
from .output_lock import LOCK_NAME, check_not_locked
from .writes import FINISHES, remove, write_text_atomically, writing

#: Everything a training run writes into its output directory.
OUTPUT_NAMES = ("saved_model", "model.keras", "logs", "figures", "metrics.json", "config.json", "backup")

#: Where an unfinished run keeps its backup (removed once the run's results are written).
BACKUP_NAME = "backup"


def _holds_config(output_dir: pathlib.Path, config_json: str) -> bool:
    """Whether ``output_dir``'s ``config.json`` is the configuration ``config_json``.

    The same keys and values; a key the saved file lacks counts as the same only when the
    package gained it after such runs were recorded and ``config_json`` gives it the value
    the run had before it existed (:data:`~disentangle_tf.run.config.KEYS_ADDED_LATER`).
    """
    config_file = output_dir / "config.json"
    if not config_file.is_file():
        return False
    saved_text = config_file.read_text()
    if saved_text == config_json:
        return True
    try:
        saved, current = json.loads(saved_text), json.loads(config_json)
    except ValueError:
        return False
    if not isinstance(saved, dict) or not isinstance(current, dict) or set(saved) - set(current):
        return False
    return all(saved[key] == value if key in saved else key in KEYS_ADDED_LATER and value == KEYS_ADDED_LATER[key]
               for key, value in current.items())


def is_resumable(output_dir: pathlib.Path, config_json: str) -> bool:
    """Whether ``output_dir`` holds an interrupted run with exactly this configuration."""
    return ((output_dir / BACKUP_NAME).is_dir() and not (output_dir / "metrics.json").exists()
            and _holds_config(output_dir, config_json))


def is_finished(output_dir: pathlib.Path, config_json: str) -> bool:
    """Whether ``output_dir`` holds a finished run (results and model written) of exactly this configuration."""
    return ((output_dir / "metrics.json").is_file() and (output_dir / "model.keras").is_file()
            and _holds_config(output_dir, config_json))


def check_output_dir(output_dir: pathlib.Path, overwrite: bool, config_json: str | None = None) -> bool:
    """Check that a run may write to ``output_dir``, creating and removing nothing.

    Returns:
        True if ``output_dir`` holds an interrupted run whose ``config.json`` equals
        ``config_json`` (and ``overwrite`` is false): the run resumes from its backup.

    Raises:
        ConfigError: if another live process is writing to the directory
            (:mod:`~disentangle_tf.run.output_lock`; with ``overwrite`` too), or the
            directory is not empty and ``overwrite`` is false, is a file, or cannot be
            created or written.
    """
    output_dir = pathlib.Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ConfigError(f"--output-dir {output_dir}: exists and is not a directory")
    check_not_locked(output_dir)
    if config_json is not None and not overwrite and is_resumable(output_dir, config_json):
        return True
    # A lock file nobody holds is what a killed command leaves: it does not make the directory used.
    if output_dir.is_dir() and any(p.name != LOCK_NAME for p in output_dir.iterdir()) and not overwrite:
        if (output_dir / BACKUP_NAME).is_dir():
            raise ConfigError(
                f"--output-dir {output_dir}: holds an interrupted run with another configuration; "
                "rerun with the same options to resume, or pass --overwrite"
            )
        raise ConfigError(
            f"--output-dir {output_dir}: directory is not empty; choose another or pass --overwrite"
        )
    existing = output_dir.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"--output-dir {output_dir}: cannot create ({existing} is not a directory)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--output-dir {output_dir}: cannot create or write in {existing} (permission denied)")
    return False


def prepare_output_dir(
    output_dir: pathlib.Path, overwrite: bool, config_json: str | None = None, names=OUTPUT_NAMES
) -> bool:
    """Create ``output_dir``; refuse one that is not empty unless ``overwrite``.

    Call it once the input is known to be good (:func:`check_output_dir` checks the
    same without writing). With ``overwrite`` only the files a run writes (``names``,
    by default a training run's :data:`OUTPUT_NAMES`) are removed; anything else in
    the directory is left alone. A directory holding an interrupted run whose
    ``config.json`` equals ``config_json`` is kept as it is, to resume.

    Returns:
        True if the run resumes from a backup in ``output_dir``.

    Raises:
        ConfigError: as :func:`check_output_dir`.
    """
    if check_output_dir(output_dir, overwrite, config_json):
        return True
    if output_dir.is_dir():
        for name in names:
            target = output_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"--output-dir {output_dir}: cannot create ({error.strerror})") from None
    if not os.access(output_dir, os.W_OK):
        raise ConfigError(f"--output-dir {output_dir}: not writable")
    return False


def write_results(model, metrics: dict, output_dir: pathlib.Path, step: int, headline=(),
                  notify=lambda line: None, saved_model: bool = True, figures: bool = True) -> None:
    """Write a finished run's files: ``model.keras``, ``saved_model/`` (unless
    ``saved_model`` is false), the final results in ``logs/`` (TensorBoard, at ``step``,
    under the ``headline`` sentences of :func:`~disentangle_tf.run.headline.headline`),
    ``figures/`` (unless ``figures`` is false) and, last, ``metrics.json``, which marks the
    run finished; then remove the backup, so that a run killed or stopped by a failed write
    before this point resumes and writes them again (what an earlier attempt left of them
    is replaced). ``notify`` is called with a line before each step.

    Raises:
        WriteError: if a file cannot be written (a full disk), naming it; what the failed
            step had written is removed, and the backup kept.
    """
    from ..evaluation.evaluate import write_evaluation  # TensorFlow: loaded by then
    from ..export import export_saved_model
    from .summaries import write_final_results

    notify("exporting..." if saved_model else "saving model.keras...")
    keras_file, export_dir, figures_dir = (output_dir / name for name in ("model.keras", "saved_model", "figures"))
    for unfinished in (keras_file, export_dir, figures_dir):  # an earlier attempt's, cut short
        remove(unfinished)
    with writing(keras_file, FINISHES, discard=(keras_file,)):
        model.save(keras_file)
    if saved_model:
        with writing(export_dir, FINISHES, discard=(export_dir,)):
            export_saved_model(model, export_dir)
    notify("writing figures and TensorBoard's results..." if figures else "writing TensorBoard's results...")
    with writing(output_dir / "logs", FINISHES, room=True):
        write_final_results(output_dir / "logs", metrics, step=step, headline=headline)
    if figures:
        with writing(figures_dir, FINISHES, discard=(figures_dir,), room=True):
            write_evaluation(metrics, output_dir)
    write_text_atomically(output_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n", FINISHES)
    shutil.rmtree(output_dir / BACKUP_NAME)
