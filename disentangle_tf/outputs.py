"""The output directory of a run: what it holds and how it is (re)claimed."""

from __future__ import annotations

import pathlib
import shutil

from .config import ConfigError

#: Everything a training run writes into its output directory.
OUTPUT_NAMES = ("saved_model", "model.keras", "logs", "metrics.json", "config.json")


def prepare_output_dir(output_dir: pathlib.Path, overwrite: bool) -> None:
    """Create ``output_dir``; refuse one that is not empty unless ``overwrite``.

    With ``overwrite`` only the files a run writes (:data:`OUTPUT_NAMES`) are removed;
    anything else in the directory is left alone.

    Raises:
        ConfigError: if the directory is not empty and ``overwrite`` is false, or it
            cannot be created.
    """
    if output_dir.exists() and not output_dir.is_dir():
        raise ConfigError(f"--output-dir {output_dir}: exists and is not a directory")
    if output_dir.is_dir() and any(output_dir.iterdir()):
        if not overwrite:
            raise ConfigError(
                f"--output-dir {output_dir}: directory is not empty; choose another or pass --overwrite"
            )
        for name in OUTPUT_NAMES:
            target = output_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"--output-dir {output_dir}: cannot create ({error.strerror})") from None
