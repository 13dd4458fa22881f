"""The output directory of a run: what it holds and how it is (re)claimed."""

from __future__ import annotations

import os
import pathlib
import shutil

from .config import ConfigError

#: Everything a training run writes into its output directory.
OUTPUT_NAMES = ("saved_model", "model.keras", "logs", "metrics.json", "config.json", "backup")

#: Where an unfinished run keeps its last backup (removed when the run finishes).
BACKUP_NAME = "backup"


def is_resumable(output_dir: pathlib.Path, config_json: str) -> bool:
    """Whether ``output_dir`` holds an interrupted run with exactly this configuration."""
    config_file = output_dir / "config.json"
    return (
        (output_dir / BACKUP_NAME).is_dir()
        and config_file.is_file()
        and not (output_dir / "metrics.json").exists()
        and config_file.read_text() == config_json
    )


def prepare_output_dir(
    output_dir: pathlib.Path, overwrite: bool, config_json: str | None = None, names=OUTPUT_NAMES
) -> bool:
    """Create ``output_dir``; refuse one that is not empty unless ``overwrite``.

    With ``overwrite`` only the files a run writes (``names``, by default a training
    run's :data:`OUTPUT_NAMES`) are removed;
    anything else in the directory is left alone. A directory holding an interrupted
    run whose ``config.json`` equals ``config_json`` is kept as it is, to resume.

    Returns:
        True if the run resumes from a backup in ``output_dir``.

    Raises:
        ConfigError: if the directory is not empty and ``overwrite`` is false, or it
            cannot be created or written.
    """
    if output_dir.exists() and not output_dir.is_dir():
        raise ConfigError(f"--output-dir {output_dir}: exists and is not a directory")
    if config_json is not None and not overwrite and is_resumable(output_dir, config_json):
        return True
    if output_dir.is_dir() and any(output_dir.iterdir()):
        if (output_dir / BACKUP_NAME).is_dir() and not overwrite:
            raise ConfigError(
                f"--output-dir {output_dir}: holds an interrupted run with another configuration; "
                "rerun with the same options to resume, or pass --overwrite"
            )
        if not overwrite:
            raise ConfigError(
                f"--output-dir {output_dir}: directory is not empty; choose another or pass --overwrite"
            )
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
