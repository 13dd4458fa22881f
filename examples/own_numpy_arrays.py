"""Train a Disentangler on your own NumPy arrays.

The arrays here are generated as a stand-in for your data: 32 x 32 grey-scale images
with a bright square in the left or the right half (task ``side``) and a low or high
level of Gaussian noise (task ``noise``). Replace ``make_arrays`` with your loading code;
what the model needs is

- ``images``: float32 ``(N, H, W, C)``, each image z-score normalised on its own;
- ``labels``: a dict ``{task name: int array (N,)}`` of class indices ``0 .. K - 1``.

Two ways to feed them (``--adversary-batches``):

``same`` (default)
    Wrap the arrays in ``LabelledImages`` and build the input pipeline with
    ``make_training_dataset``; the adversary updates reuse the main batch's features.
``fresh``
    Pass the arrays straight to ``Disentangler.fit``, which builds the pipeline itself
    so that every adversary update sees a fresh batch (as in the authors' code).

Random left-right flips, the paper's augmentation, are switched off: flipping would
move the square to the other half and so change the ``side`` label. Check that an
augmentation preserves every task's label before using it.

Usage::

    python examples/own_numpy_arrays.py --epochs 10
    python examples/own_numpy_arrays.py --epochs 10 --adversary-batches fresh
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # read when TensorFlow loads, in main()

SIZE = 32
SQUARE = 8
NOISE_LEVELS = (0.1, 0.6)  # standard deviation of the noise, indexed by the noise label
CLASS_NAMES = {"side": ("left", "right"), "noise": ("low", "high")}
BATCH_SIZE = 50
ADVERSARY_STEPS = 5


def make_arrays(count: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Stand-in data: ``count`` images and their ``side`` and ``noise`` labels."""
    side = rng.integers(0, 2, size=count)
    noise = rng.integers(0, 2, size=count)
    images = rng.normal(0.0, 1.0, size=(count, SIZE, SIZE, 1)) * np.take(NOISE_LEVELS, noise)[:, None, None, None]
    rows = rng.integers(0, SIZE - SQUARE + 1, size=count)
    columns = rng.integers(0, SIZE // 2 - SQUARE + 1, size=count) + side * (SIZE // 2)
    for image, row, column in zip(images, rows, columns):
        image[row:row + SQUARE, column:column + SQUARE] += 1.0
    # Per-image z-scoring, as the package's models expect.
    from disentangle_tf.data.normalization import standardize_per_image

    return standardize_per_image(images), {"side": side, "noise": noise}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default: 10)")
    parser.add_argument("--adversary-batches", choices=("same", "fresh"), default="same",
                        help="same: LabelledImages + make_training_dataset; fresh: fit on arrays")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1; got {args.epochs}")
    return args


def main() -> None:
    args = parse_args()
    # TensorFlow loads here, once the options are known good: --help and a mistake answer at once.
    import keras

    from disentangle_tf import Disentangler, LabelledImages, TaskSpec
    from disentangle_tf.data import make_evaluation_dataset, make_training_dataset

    start = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    # Your arrays, one LabelledImages per split (it checks shapes and label types).
    splits = {}
    for name, count in (("train", 600), ("val", 200), ("test", 200)):
        images, labels = make_arrays(count, rng)
        splits[name] = LabelledImages(images=images, labels=labels, class_names=CLASS_NAMES)
    train, val, test = splits["train"], splits["val"], splits["test"]

    # A small model: the images are small and the tasks easy.
    tasks = [TaskSpec(name, len(names), class_names=names) for name, names in CLASS_NAMES.items()]
    model = Disentangler(
        tasks,
        input_shape=train.image_shape,
        encoder_filters=(8, 16, 32),
        encoder_strides=(2, 2, 2),
        feature_pooling="average",
        head_units=(32,),
    )
    model.compile(
        adversarial_weight=0.01,
        adversary_steps=ADVERSARY_STEPS,
        adversary_batches=args.adversary_batches,
    )

    validation = make_evaluation_dataset(val, BATCH_SIZE)
    if args.adversary_batches == "same":
        # Any (images, labels) dataset will do; the package's pipeline shuffles and batches.
        dataset = make_training_dataset(train, batch_size=BATCH_SIZE, flip=False, seed=args.seed)
        model.fit(dataset, epochs=args.epochs, validation_data=validation, verbose=2)
    else:
        # Plain arrays: fit wraps them so that each adversary step gets a fresh batch.
        model.fit(train.images, dict(train.labels), batch_size=BATCH_SIZE, epochs=args.epochs,
                  validation_data=validation, verbose=2)

    scores = model.evaluate(make_evaluation_dataset(test, BATCH_SIZE), return_dict=True, verbose=0)
    for task in model.task_names:
        print(f"test accuracy, {task} from its own features: {scores[f'{task}_accuracy']:.3f}")
    for name in model.adversary_names:
        features_task, label_task = name.split("_to_")
        print(f"test accuracy, {label_task} from the {features_task} features (adversary): "
              f"{scores[f'adversary_{name}_accuracy']:.3f}")

    # Predictions for new arrays: softmax probabilities per task.
    probabilities = model.predict_probabilities(test.images[:5])
    for task, names in CLASS_NAMES.items():
        predicted = np.asarray(probabilities[task]).argmax(axis=1)
        print(f"{task}: predicted {[names[k] for k in predicted]}, "
              f"true {[names[k] for k in test.labels[task][:5]]}")
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
