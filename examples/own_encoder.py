"""Train a Disentangler whose encoders are a ``keras.applications`` backbone.

Each task gets its own MobileNetV3-Small (randomly initialised: nothing is downloaded)
on the synthetic shapes, reading grey-scale images (one channel: ``weights=None``
allows it) that are already z-scored per image, so the backbone's own 0-255
preprocessing is switched off (``include_preprocessing=False``). The package sizes
the classifiers and adversaries from the backbone's pooled features; the model is
trained with the recommended setting's penalty on the features (the backbone has no
residual blocks the ``"blocks"`` penalty could read), saved, loaded back with its
weights, and exported as a SavedModel.

Usage::

    python examples/own_encoder.py --epochs 3 --output-dir runs/own-encoder
"""

from __future__ import annotations

import argparse
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # read when TensorFlow loads, in main()


def mobilenet_encoder(task, image_shape):
    """A MobileNetV3-Small mapping ``image_shape`` images to pooled features."""
    import keras

    return keras.applications.MobileNetV3Small(
        input_shape=image_shape, weights=None, include_top=False, pooling="avg",
        include_preprocessing=False, minimalistic=True, alpha=0.75, name=f"{task.name}_mobilenet",
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, nargs=2, default=(56, 72))
    parser.add_argument("--output-dir", type=pathlib.Path, required=True)
    args = parser.parse_args(argv)
    if args.output_dir.exists() and any(args.output_dir.iterdir()):
        parser.error(f"--output-dir {args.output_dir}: not empty; choose a new directory")
    # TensorFlow loads here, once the options are known good: --help and a mistake answer at once.
    import keras
    import numpy as np

    import disentangle_tf  # noqa: F401  (registers the package's Keras classes)
    from disentangle_tf import Disentangler, TaskSpec
    from disentangle_tf.data import make_evaluation_dataset, make_synthetic_splits, make_training_dataset

    splits = make_synthetic_splits(image_size=tuple(args.image_size), seed=0)
    image_shape = splits["train"].image_shape
    tasks = [TaskSpec("background", 2, class_names=("black", "white")),
             TaskSpec("shape", 2, class_names=("circle", "rectangle"))]
    model = Disentangler(tasks, encoders=lambda task: mobilenet_encoder(task, image_shape), head_units=(64,))
    model.compile(adversarial_weight=0.0, adversary_batches="same", independence_weight=10.0)
    model.fit(make_training_dataset(splits["train"], batch_size=50, sampling="group_balanced"),
              validation_data=make_evaluation_dataset(splits["val"], 50), epochs=args.epochs, verbose=2)

    args.output_dir.mkdir(parents=True, exist_ok=True)
    path = args.output_dir / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    same = all(np.array_equal(a, b) for a, b in zip(model.get_weights(), loaded.get_weights()))
    model.export(str(args.output_dir / "saved_model"), verbose=False)
    for name in ("test", "unseen"):
        results = loaded.evaluate(make_evaluation_dataset(splits[name], 50), verbose=0, return_dict=True)
        print(f"{name}: " + ", ".join(f"{task} accuracy {results[f'{task}_accuracy']:.2f}"
                                      for task in loaded.task_names))
    print(f"saved {path} (loaded back with equal weights: {same}) and {args.output_dir / 'saved_model'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
