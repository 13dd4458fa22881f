"""``python -m disentangle_tf.report``: merge the parts of one comparison into one table.

Example::

    python -m disentangle_tf.report runs/part1 runs/part2 --output-dir runs/merged

The tables and statistics: :mod:`disentangle_tf.experiments.report`. Every directory
is read and checked before anything is written.
"""

from __future__ import annotations

import pathlib

import click

from ..experiments.report import collect, write_all
from ..run.outputs import prepare_output_dir
from .common import UserError


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("directories", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=pathlib.Path), required=True,
              help="Where to write the merged results.csv, run.json and summary.md.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier merge in --output-dir.")
def main(directories, output_dir, overwrite):
    """Merge the results of several reproduce runs (parts of one comparison) into one table."""
    for directory in directories:
        if pathlib.Path(directory).resolve() == output_dir.resolve():
            raise UserError(f"--output-dir {output_dir} is one of the runs to merge; choose another directory")
    dataset, rows, parts = collect(directories)  # every input checked before anything is written
    prepare_output_dir(output_dir, overwrite, names=("results.csv", "run.json", "summary.md"))
    write_all(output_dir, dataset, rows, parts)
    click.echo(f"merged {len(rows)} rows from {len(directories)} runs into {output_dir}")

