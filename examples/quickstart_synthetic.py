"""Train, evaluate and export a Disentangler on the synthetic shapes, with the Python API.

The synthetic experiment of Meng et al. (2019): task ``background`` (black / white) and
task ``shape`` (circle / rectangle). In training every circle is on white; the
``unseen`` split holds circles on black, a combination never seen in training.

Usage::

    python examples/quickstart_synthetic.py --epochs 15 --output-dir runs/quickstart

Writes ``model.keras`` (the Keras model) and ``saved_model/`` (a TF SavedModel whose
``serving_default`` signature returns per-task probabilities and features) into the
output directory. This is what ``python -m disentangle_tf.train --dataset synthetic``
does with its default method (on these shapes, where no combination of labels can be
held out, the recommended setting; docs/method.rst), through Keras's compile and
fit: ``compile(method="recommended")`` sets no adversarial term and a class-conditional
HSIC penalty on every residual block's grid cells; ``fit`` on the arrays draws
group-balanced batches and, after the last epoch, recomputes the batch-norm statistics
with the final weights and refits each classifier's last layer on the frozen features.
``method="paper"`` trains the paper's method instead.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # read when TensorFlow loads, in main()

IMAGE_SIZE = (56, 72)
BATCH_SIZE = 50


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15, help="training epochs (default: 15)")
    parser.add_argument("--output-dir", type=pathlib.Path, default=pathlib.Path("runs/quickstart_synthetic"),
                        help="where model.keras and saved_model/ are written")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and initialisation")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace model.keras and saved_model/ from an earlier run")
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1; got {args.epochs}")
    for name in ("model.keras", "saved_model"):
        target = args.output_dir / name
        if target.exists() and not args.overwrite:
            parser.error(f"{target} exists; choose another --output-dir or pass --overwrite")
    return args


def accuracies(model, data) -> tuple[dict, dict]:
    """Task accuracies and adversary accuracies of the Disentangler ``model`` on ``data``."""
    from disentangle_tf.data import make_evaluation_dataset

    scores = model.evaluate(make_evaluation_dataset(data, BATCH_SIZE), return_dict=True, verbose=0)
    tasks = {task: scores[f"{task}_accuracy"] for task in model.task_names}
    adversaries = {name: scores[f"adversary_{name}_accuracy"] for name in model.adversary_names}
    return tasks, adversaries


def main() -> None:
    args = parse_args()
    # TensorFlow loads here, once the options are known good: --help and a mistake answer at once.
    import keras
    import numpy as np
    import tensorflow as tf

    from disentangle_tf import Disentangler, TaskSpec
    from disentangle_tf.data import make_evaluation_dataset, make_synthetic_splits
    from disentangle_tf.export import export_saved_model

    start = time.perf_counter()
    keras.utils.set_random_seed(args.seed)

    # Data: the paper's split (train 1200, val 300, test 300, unseen 100 images).
    splits = make_synthetic_splits(image_size=IMAGE_SIZE, seed=args.seed)
    print({name: len(data) for name, data in splits.items()})

    # Model: one encoder + classifier per task, one adversary per ordered pair of tasks.
    tasks = [
        TaskSpec("background", 2, class_names=("black", "white")),
        TaskSpec("shape", 2, class_names=("circle", "rectangle")),
    ]
    model = Disentangler(tasks, input_shape=(*IMAGE_SIZE, 1))
    # The recommended method: no adversarial term (the adversaries only measure), the
    # conditional HSIC penalty (shape features ~ background | shape) on every residual
    # block's 2 x 2 grid cells; method="paper" is the paper's.
    model.compile(method="recommended")
    print("adversaries:", ", ".join(model.adversary_names))
    print("method:", model.compiled_method["name"])

    # Training: every label combination (e.g. rectangle on white) equally often in a batch,
    # random flips; after the last epoch, batch-norm statistics recomputed with the final
    # weights and each classifier's last layer refitted (class-balanced logistic regression).
    model.fit(
        splits["train"].images,
        splits["train"].labels,
        batch_size=BATCH_SIZE,
        epochs=args.epochs,
        seed=args.seed,
        validation_data=make_evaluation_dataset(splits["val"], BATCH_SIZE),
        verbose=2,
    )

    # Evaluation: the seen combinations (test) and the unseen one (circles on black).
    for split in ("test", "unseen"):
        tasks_accuracy, adversary_accuracy = accuracies(model, splits[split])
        print(f"{split:>6}: task accuracy "
              + ", ".join(f"{t} {a:.3f}" for t, a in tasks_accuracy.items())
              + " | adversary accuracy "
              + ", ".join(f"{n} {a:.3f}" for n, a in adversary_accuracy.items()))

    # Saving: the Keras model, and a SavedModel for serving.
    args.output_dir.mkdir(parents=True, exist_ok=True)
    keras_path, saved_model_path = args.output_dir / "model.keras", args.output_dir / "saved_model"
    if saved_model_path.exists():  # only reached with --overwrite
        shutil.rmtree(saved_model_path)
    model.save(keras_path)
    export_saved_model(model, saved_model_path)

    # The SavedModel needs only TensorFlow: check it against the Keras model.
    served = tf.saved_model.load(str(saved_model_path)).signatures["serving_default"]
    images = splits["unseen"].images[:8]
    outputs = served(images=tf.constant(images))
    expected = model.predict_probabilities(images)["shape"]
    np.testing.assert_allclose(outputs["shape_probabilities"].numpy(), np.asarray(expected), atol=1e-4)
    print(f"wrote {keras_path} and {saved_model_path} "
          f"(outputs: {', '.join(sorted(outputs))}) in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
