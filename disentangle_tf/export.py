"""SavedModel export for inference, and loading of exported models.

The exported SavedModel has one serving signature, ``serving_default`` (also callable
as the ``serve`` method), that takes a float32 batch of images ``(N, H, W, C)``,
z-score normalised per image as in training, and returns for every task ``t``:

- ``t_probabilities``: ``(N, classes)`` softmax probabilities;
- ``t_features``: ``(N, D)`` the task encoder's features;

and, for a model that records the combinations of labels of its training data
(:class:`~disentangle_tf.models.training_combinations.TrainingCombinations`, which a
training run sets), ``combination_seen_in_training``: bool ``(N,)``, true where the
image's predicted labels (the most probable class of every task) form a combination
present in training. The combinations are a constant of the graph.

The signature checks its input (:func:`check_image_batch`): a tensor of another rank or
size, such as one image without its batch axis, raises ``InvalidArgumentError`` naming
the expected shape, rather than reaching the convolutions (whose CPU kernels abort the
process on an input of the wrong rank).

Two more signatures take raw pixels, so that a serving stack can send images as they
are: ``serve_pixels`` (uint8) and ``serve_pixels_float`` (float32, any range), each a
batch ``(N, h, w, c)`` of any size with ``c`` 1 or 3. In the graph they are converted
to the model's channels (grey as ``tf.image.rgb_to_grayscale``), resized bilinearly
with antialiasing and z-scored per image, exactly as the package's image reader does
(:func:`~disentangle_tf.data.images.standardize_images`); the outputs are those of
``serving_default``.

A ``disentangle_tf.json`` file beside ``saved_model.pb`` records the tasks, their class
names, the image shape and the training combinations with their counts (None where the
model does not record them), for :mod:`disentangle_tf.cli.predict`.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import keras
import tensorflow as tf

from .data.images import standardize_images
from .models import Disentangler
from .models.training_combinations import SEEN_OUTPUT, seen_combinations

METADATA_FILE = "disentangle_tf.json"
SIGNATURE = "serving_default"
#: The raw-pixel signatures, by input dtype.
PIXEL_SIGNATURES = {"serve_pixels": tf.uint8, "serve_pixels_float": tf.float32}


def prepare_pixels(pixels, image_shape) -> tf.Tensor:
    """Raw pixels ``(N, h, w, c)`` (``c`` 1 or 3, any dtype) as model inputs ``(N, *image_shape)``.

    Converts to the model's channels (RGB to grey with ``tf.image.rgb_to_grayscale``,
    grey to RGB by repetition), then resizes and z-scores each image as
    :func:`~disentangle_tf.data.images.standardize_images`.

    Raises:
        tf.errors.InvalidArgumentError: for a tensor that is not a non-empty batch of
            images with 1 or 3 channels.
    """
    pixels = tf.convert_to_tensor(pixels)
    if pixels.shape.rank is not None and pixels.shape.rank != 4:
        raise tf.errors.InvalidArgumentError(
            None, None, f"pixels: expected a batch (N, height, width, 1 or 3), got shape {tuple(pixels.shape)}")
    pixels = tf.ensure_shape(pixels, (None, None, None, None))
    channels = tf.shape(pixels)[-1]
    checks = [
        tf.debugging.assert_positive(tf.shape(pixels)[0], message="pixels: expected at least one image"),
        tf.debugging.Assert(tf.logical_or(tf.equal(channels, 1), tf.equal(channels, 3)),
                            ["pixels: expected 1 or 3 channels, got", channels]),
    ]
    with tf.control_dependencies(checks):
        pixels = tf.cast(pixels, tf.float32)
    wanted = int(image_shape[-1])
    if wanted == 1:
        pixels = tf.cond(tf.equal(channels, 3), lambda: tf.image.rgb_to_grayscale(pixels[..., :3]),
                         lambda: pixels[..., :1])
    else:
        pixels = tf.cond(tf.equal(channels, 1), lambda: tf.image.grayscale_to_rgb(pixels[..., :1]),
                         lambda: pixels[..., :3])
    pixels = tf.ensure_shape(pixels, (None, None, None, wanted))
    return standardize_images(pixels, image_shape[:2])


def check_image_batch(images, image_shape) -> tf.Tensor:
    """``images`` if it is a batch ``(N, H, W, C)`` of ``image_shape`` with ``N >= 1``.

    Works eagerly and inside a traced function (the serving signature), where it adds
    run-time checks: the signature's declared shape alone does not stop a tensor of
    another shape from reaching the model.

    Args:
        images: a tensor, expected ``(N, H, W, C)``.
        image_shape: ``(H, W, C)``.

    Returns:
        ``images``, with the checked static shape.

    Raises:
        tf.errors.InvalidArgumentError: naming the expected and the actual shape.
    """
    images = tf.convert_to_tensor(images)
    expected = (None, *(int(side) for side in image_shape))
    described = f"(N, {', '.join(map(str, expected[1:]))}) with N >= 1"
    if not images.shape.is_compatible_with(expected) or images.shape[:1] == [0]:
        raise tf.errors.InvalidArgumentError(
            None, None, f"images: expected a batch of shape {described}, got {tuple(images.shape)}")
    # Shapes known only when the function runs: EnsureShape fails on another rank or size
    # (its message names the expected shape), the assertion on an empty batch.
    images = tf.ensure_shape(images, expected, name="images")
    not_empty = tf.debugging.assert_positive(
        tf.shape(images)[0], message=f"images: expected a batch of shape {described}, got an empty batch")
    with tf.control_dependencies([not_empty]):
        return tf.identity(images)


def export_saved_model(model: Disentangler, path: str | pathlib.Path) -> pathlib.Path:
    """Write ``model`` as a TF SavedModel with a serving signature.

    Args:
        model: a :class:`~disentangle_tf.models.Disentangler` (or an ensemble of them);
            if its ``training_combinations`` are recorded, the signatures also return
            ``combination_seen_in_training`` (bool ``(N,)``).
        path: directory to create; it must not exist yet.

    Returns:
        The path of the SavedModel directory.

    Example:

    >>> export_saved_model(model, "run/saved_model")  # doctest: +SKIP
    >>> served = tf.saved_model.load("run/saved_model")
    >>> outputs = served.signatures["serving_default"](images=batch)
    """
    path = pathlib.Path(path)
    if path.exists():
        raise FileExistsError(f"{path}: already exists; refusing to overwrite an exported model")

    combinations = getattr(model, "training_combinations", None)

    def serve(images):
        images = check_image_batch(images, model.image_shape)
        logits, features = model(images, training=False, return_features=True)
        outputs = {}
        for task in model.task_names:
            outputs[f"{task}_probabilities"] = tf.nn.softmax(tf.cast(logits[task], tf.float32))
            outputs[f"{task}_features"] = tf.cast(features[task], tf.float32)
        if combinations is not None:
            predicted = tf.stack([tf.argmax(logits[task], axis=-1, output_type=tf.int32)
                                  for task in model.task_names], axis=1)
            outputs[SEEN_OUTPUT] = seen_combinations(predicted, combinations)
        return outputs

    # Traced once: the raw-pixel endpoints call it, so the model is traced and saved once.
    serve = tf.function(serve, autograph=False,  # as Keras traces an endpoint
                        input_signature=[tf.TensorSpec((None, *model.image_shape), tf.float32, name="images")])

    def serve_pixels(pixels):
        return serve(prepare_pixels(pixels, model.image_shape))

    # The endpoint tracks the variables it reads (encoders and classifiers); tracking the
    # whole model would also walk and save the adversaries and both optimizers.
    archive = keras.export.ExportArchive()
    archive.add_endpoint(name="serve", fn=serve)
    for name, dtype in PIXEL_SIGNATURES.items():
        archive.add_endpoint(name=name, fn=serve_pixels,
                             input_signature=[tf.TensorSpec((None, None, None, None), dtype, name="pixels")])
    archive.write_out(str(path), verbose=False)
    metadata = {
        "image_shape": list(model.image_shape),
        "tasks": [dataclasses.asdict(task) for task in model.tasks],
        "training_combinations": None if combinations is None else [
            {"labels": list(labels), "images": images} for labels, images in combinations],
    }
    (path / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
    return path


@dataclasses.dataclass
class ExportedModel:
    """A loaded SavedModel: call it on a batch to get per-task outputs.

    Attributes:
        signature: the concrete serving function.
        image_shape: ``(H, W, C)`` the signature expects.
        task_names: the tasks, in model order (by name for a SavedModel that does not
            say the order).
        class_names: per task, the class names (``None`` if unknown).
        input_name: the name of the signature's image input.
        logit_outputs: per task whose signature output holds logits (a Keras
            ``model.export()``), that output's name; the others have
            ``<task>_probabilities`` outputs.
    """

    signature: tf.types.experimental.ConcreteFunction
    image_shape: tuple
    task_names: tuple
    class_names: dict
    input_name: str = "images"
    logit_outputs: dict = dataclasses.field(default_factory=dict)

    @property
    def flags_combinations(self) -> bool:
        """Whether the signature returns ``combination_seen_in_training`` (the package's
        export of a model that records its training combinations)."""
        return SEEN_OUTPUT in self.signature.structured_outputs

    def __call__(self, images) -> dict:
        """Outputs of the serving signature as numpy arrays, and for every task ``t``
        ``t_probabilities``, float32 ``(N, classes)`` (the softmax of a task's logits
        where the signature returns logits); with :attr:`flags_combinations`, also
        ``combination_seen_in_training``, bool ``(N,)``.

        Args:
            images: float ``(N, H, W, C)`` of :attr:`image_shape`, ``N >= 1``; cast to the
                signature's float dtype.

        Raises:
            ValueError: if ``images`` is not a float batch of the expected shape
                (the check of the serving signature, :func:`check_image_batch`).
        """
        images = tf.convert_to_tensor(images)
        if not images.dtype.is_floating:
            raise ValueError(f"images: expected a float32 batch, got dtype {images.dtype.name}")
        try:
            images = check_image_batch(images, self.image_shape)
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(error.message) from None
        dtype = self.signature.structured_input_signature[1][self.input_name].dtype
        outputs = self.signature(**{self.input_name: tf.cast(images, dtype)})
        result = {name: value.numpy() for name, value in outputs.items()}
        for task, name in self.logit_outputs.items():
            result[f"{task}_probabilities"] = tf.nn.softmax(tf.cast(outputs[name], tf.float32)).numpy()
        return result


#: A hint for a model that predict cannot read.
_EXPORT_HINT = "export it with disentangle_tf.export.export_saved_model (a training run writes one in saved_model/)"


def find_saved_model(path: str | pathlib.Path) -> pathlib.Path:
    """The SavedModel directory ``path`` names: itself, or a training run's ``saved_model/``.

    Looks at the file system only (nothing is loaded).

    Raises:
        ValueError: if ``path`` does not exist, is a file (a ``.keras`` file is named as
            such), or neither it nor ``path/saved_model`` holds ``saved_model.pb`` (for a
            run trained with the ``saved_model`` setting off, the message says so).
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such directory; expected a SavedModel directory or a training run's")
    if not path.is_dir():
        if path.suffix == ".keras":
            raise ValueError(f"{path}: is a Keras model file; expected a SavedModel directory or a training run's "
                             f"(the run's directory, {path.parent}, if it holds saved_model/)")
        raise ValueError(f"{path}: is a file; expected a SavedModel directory or a training run's")
    if (path / "saved_model.pb").is_file():
        return path
    if (path / "saved_model" / "saved_model.pb").is_file():
        return path / "saved_model"
    if _trained_without_export(path):
        raise ValueError(f"{path}: a training run with saved_model off holds no SavedModel; export its "
                         "model.keras with disentangle_tf.export.export_saved_model, or train with saved_model on")
    raise ValueError(
        f"{path}: not a SavedModel directory (no saved_model.pb) nor a training run's directory "
        "(no saved_model/saved_model.pb)"
    )


def _trained_without_export(path: pathlib.Path) -> bool:
    """Whether ``path`` is a training run's directory whose ``config.json`` turned the export off."""
    try:
        settings = json.loads((path / "config.json").read_text())
        return (path / "model.keras").is_file() and settings.get("saved_model") is False
    except (OSError, ValueError, AttributeError):
        return False


def _described(specs: dict) -> str:
    """``name (N, 2) float32, ...`` for a signature's inputs or outputs."""
    def shape(spec):
        return "(" + ", ".join("N" if k == 0 and d is None else str(d) for k, d in enumerate(spec.shape)) + ")"

    return ", ".join(f"{name} {shape(spec)} {spec.dtype.name}" for name, spec in specs.items()) or "none"


def _image_input(path: pathlib.Path, signature) -> tuple[str, tuple]:
    """The name and ``(H, W, C)`` of the signature's one input, a float batch of images.

    Raises:
        ValueError: naming the inputs, if there is not one such input.
    """
    args, inputs = signature.structured_input_signature
    spec = next(iter(inputs.values())) if len(inputs) == 1 and not args else None
    if (spec is None or spec.shape.rank != 4 or None in spec.shape[1:] or spec.shape[3] not in (1, 3)
            or not spec.dtype.is_floating):
        raise ValueError(f"{path}: its {SIGNATURE} signature takes {_described(inputs)}; expected one float batch "
                         "of images (N, H, W, C) of a fixed size, C 1 or 3")
    return next(iter(inputs)), tuple(int(side) for side in spec.shape[1:])


def _holds_class_scores(spec) -> bool:
    """Whether a signature output is a float ``(N, classes)`` with ``classes >= 2``."""
    return spec.dtype.is_floating and spec.shape.rank == 2 and spec.shape[1] is not None and spec.shape[1] >= 2


def _tasks(path: pathlib.Path, outputs: dict, metadata: dict | None) -> tuple[tuple, dict, dict]:
    """The tasks, their class names and the outputs that hold logits.

    A task's scores are its ``<task>_probabilities`` output or, failing that, an output
    named as the task holding ``(N, classes)`` logits (Keras's ``model.export()`` of a
    :class:`~disentangle_tf.models.Disentangler`); without the package's metadata file,
    the tasks are those of the ``_probabilities`` outputs or, if there is none, every
    output of class scores (named after the output: ``output_0`` for an unnamed one).

    Raises:
        ValueError: naming the outputs, if a task has no scores or there is no task.
    """
    suffix = "_probabilities"
    if metadata is not None:
        tasks = tuple(t["name"] for t in metadata["tasks"])
        class_names = {t["name"]: t.get("class_names") for t in metadata["tasks"]}
    elif any(name.endswith(suffix) for name in outputs):
        tasks = tuple(name[: -len(suffix)] for name in outputs if name.endswith(suffix))
        class_names = {}
    else:
        tasks = tuple(sorted(name for name, spec in outputs.items() if _holds_class_scores(spec)))
        class_names = {}
    logits = {}
    for task in tasks:
        if f"{task}{suffix}" not in outputs:
            if task not in outputs or not _holds_class_scores(outputs[task]):
                raise ValueError(f"{path}: its {SIGNATURE} signature has no {task}{suffix} output nor {task} "
                                 f"logits (outputs: {_described(outputs)}); {_EXPORT_HINT}")
            logits[task] = task
    if not tasks:
        raise ValueError(f"{path}: its {SIGNATURE} signature has no <task>{suffix} outputs nor outputs of class "
                         f"scores (N, classes) (outputs: {_described(outputs)}); {_EXPORT_HINT}")
    return tasks, {task: class_names.get(task) for task in tasks}, logits


def load_exported_model(path: str | pathlib.Path) -> ExportedModel:
    """Load a SavedModel for prediction (no pickle involved).

    Reads the package's SavedModel (:func:`export_saved_model`: ``<task>_probabilities``
    outputs, tasks and class names in ``disentangle_tf.json``) and one written by Keras's
    ``model.export()`` of a :class:`~disentangle_tf.models.Disentangler`, whose outputs
    are each task's logits under the task's name (``output_0``, ... for a model with
    unnamed outputs): the softmax of those is each task's probabilities, the tasks are
    named after the outputs and their classes numbered from 0. Anything else is refused.

    Args:
        path: the SavedModel directory, or the directory of the training run that wrote
            it in ``saved_model/`` (:func:`find_saved_model`).

    Returns:
        An :class:`ExportedModel`; called on float32 images ``(N, H, W, C)`` it returns,
        per task ``t``, ``t_probabilities`` ``(N, classes)``.

    Raises:
        ValueError: one line naming ``path`` and what is missing: not a SavedModel, no
            ``serving_default`` signature, a signature that does not take one float batch
            of images ``(N, H, W, C)`` of a fixed size, or that returns no class scores.
    """
    path = find_saved_model(path)
    try:
        loaded = tf.saved_model.load(str(path))
    except (OSError, ValueError, tf.errors.OpError) as error:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"{path}: cannot load the SavedModel ({first_line})") from None
    if SIGNATURE not in loaded.signatures:
        raise ValueError(f"{path}: SavedModel has no {SIGNATURE!r} signature (signatures: "
                         f"{', '.join(loaded.signatures) or 'none'}); {_EXPORT_HINT}")
    signature = loaded.signatures[SIGNATURE]
    input_name, image_shape = _image_input(path, signature)
    metadata_path = path / METADATA_FILE
    try:
        metadata = json.loads(metadata_path.read_text()) if metadata_path.is_file() else None
    except ValueError:
        raise ValueError(f"{metadata_path}: not valid JSON; expected the tasks and image shape that "
                         "export_saved_model writes") from None
    if metadata is not None:
        image_shape = tuple(metadata["image_shape"])
    task_names, class_names, logits = _tasks(path, signature.structured_outputs, metadata)
    # Keep a reference to the loaded object: the signature's variables live in it.
    exported = ExportedModel(signature, image_shape, task_names, class_names, input_name, logits)
    exported._loaded = loaded
    return exported
