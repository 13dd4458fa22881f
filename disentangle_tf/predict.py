"""``python -m disentangle_tf.predict``: run an exported model on image files.

Example::

    python -m disentangle_tf.predict --model runs/demo/saved_model --output preds.csv a.png b.png

Each image is read as greyscale, resized to the model's input size and z-scored per
image, as in training. The CSV has one row per image: its path and, for every task,
the probability of each class and the predicted class.
"""

from __future__ import annotations

import pathlib

import click

from .cli import UserError, quiet_tensorflow, run_command


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False),
              help="SavedModel directory written by disentangle_tf.train.")
@click.option("--output", required=True, type=click.Path(dir_okay=False, path_type=pathlib.Path),
              help="CSV file to write.")
@click.option("--batch-size", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing --output file.")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
def main(model_dir, output, batch_size, overwrite, images):
    """Predict every task's class for IMAGES with an exported model."""
    if output.exists() and not overwrite:
        raise UserError(f"--output {output}: file exists; choose another or pass --overwrite")
    missing = [path for path in images if not pathlib.Path(path).is_file()]
    if missing:
        raise UserError(f"{missing[0]}: no such image file")
    quiet_tensorflow()
    import pandas as pd

    from .data.images import load_images
    from .export import load_exported_model

    try:
        model = load_exported_model(model_dir)
    except ValueError as error:
        raise UserError(str(error)) from None
    height, width, channels = model.image_shape
    rows = {"path": list(images)}
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        try:
            batch = load_images(chunk, (height, width), channels)
        except ValueError as error:
            raise UserError(str(error)) from None
        outputs = model(batch)
        for task in model.task_names:
            probabilities = outputs[f"{task}_probabilities"]
            names = model.class_names.get(task) or [str(k) for k in range(probabilities.shape[1])]
            for k, name in enumerate(names):
                rows.setdefault(f"{task}_probability_{name}", []).extend(probabilities[:, k].tolist())
            rows.setdefault(f"{task}_predicted", []).extend(names[k] for k in probabilities.argmax(1))
    pd.DataFrame(rows).to_csv(output, index=False)
    click.echo(f"wrote {output} ({len(images)} images)")


if __name__ == "__main__":
    run_command(main, prog_name="python -m disentangle_tf.predict")
