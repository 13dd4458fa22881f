"""``python -m disentangle_tf.convert``: write a data set to one HDF5 file, once.

Decoding thousands of image files at every run is slow; converted once, a data set
trains from the HDF5 file with ``--dataset hdf5 --data FILE.h5``. Example::

    python -m disentangle_tf.convert --dataset csv --data manifest.csv --task plane \\
        --image-size 224 288 --output planes.h5
"""

from __future__ import annotations

import os
import pathlib

import click

from .common import UserError, quiet_tensorflow
from ..run.run_settings import resolve_config
from .config_options import DATA_OPTIONS, data_options


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@data_options
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=pathlib.Path),
              help="HDF5 file to write; it must not exist.")
def main(config_file, output, **options):
    """Read a data set (images decoded, resized, z-scored) and write it to OUTPUT."""
    config = resolve_config(config_file, {key: options[key] for key in DATA_OPTIONS})
    if output.exists():
        raise UserError(f"--output {output}: file exists; refusing to overwrite it")
    folder = output.absolute().parent
    if not folder.is_dir():
        raise UserError(f"--output {output}: directory {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"--output {output}: cannot write in {folder} (permission denied)")
    if config.data.dataset == "hdf5":
        raise UserError("--dataset hdf5 is already an HDF5 file; nothing to convert")
    quiet_tensorflow()
    from ..data.hdf5 import write_hdf5
    from ..run.datasets import load_dataset

    data = load_dataset(config.data)  # every image decoded and checked before the file is made
    try:
        write_hdf5(output, data)
    except FileExistsError as error:
        raise UserError(f"--output {error}") from None
    counts = ", ".join(f"{name} {len(split)}" for name, split in
                       {"train": data.train, **data.evaluation}.items())
    click.echo(f"wrote {output} ({counts})")

