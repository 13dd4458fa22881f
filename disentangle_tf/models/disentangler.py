"""The multi-task disentangling model and its two-optimizer training step."""

from __future__ import annotations

import itertools
from typing import NamedTuple, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ..config import ModelConfig, TrainConfig
from ..distribution import replicated_strategy_active
from ..optimizers import FusedAdam, FusedSGD
from . import objectives
from .dense_head import DenseHead
from .factored_adversary_updates import factored_same_batch_updates, factored_updates_apply
from .paper import PAPER_REFERENCE
from .residual_encoder import ResidualEncoder
from ..task_spec import TaskSpec

ADVERSARY_BATCHES = ("fresh", "same")

#: The label of an example whose label for a task is missing (a partial annotation):
#: that task's loss and accuracy, and the adversaries predicting it, skip the example.
MISSING_LABEL = -1

#: How Eq. 1's adversarial term reaches the encoders: alternating updates (the paper) or
#: a gradient reversal layer (Ganin & Lempitsky 2015).
ADVERSARIAL_TRAINING = ("alternating", "gradient_reversal")

#: Where the independence penalty reads each encoder: its features only, or also the
#: globally averaged output of every residual block.
INDEPENDENCE_LAYERS = ("features", "blocks")


@tf.custom_gradient
def _reverse_gradient(features, scale):
    """Identity forward; the gradient into ``features`` multiplied by ``-scale``."""
    def gradient(upstream):
        return -scale * upstream, tf.zeros_like(scale)

    return tf.identity(features), gradient


class _StepOutputs(NamedTuple):
    """What one forward pass and Eq. 1 give a training or test step."""

    features: list
    task_logits: list
    adversary_logits: list
    task_losses: list
    adversary_losses: list
    independence_loss: object
    encoder_loss: object
    weights: list


def _optimizer(value, auto):
    """An optimizer instance: ``"auto"`` calls ``auto``; Keras's names of Adam and SGD
    give the fused classes with Keras's defaults; anything else as ``keras.optimizers.get``."""
    if isinstance(value, str):
        fused = {"auto": auto, "adam": FusedAdam, "sgd": FusedSGD}.get(value.lower())
        if fused is not None:
            return fused()
    return keras.optimizers.get(value)


def _per_task(argument: str, models, tasks):
    """Models given per task (a list in task order, a dict by task name, or a factory
    called with each :class:`TaskSpec`) as a list in task order, or None."""
    if models is None:
        return None
    names = [task.name for task in tasks]
    if isinstance(models, dict):
        missing = [name for name in names if name not in models]
        if missing or len(models) != len(names):
            raise ValueError(f"{argument}: expected one model per task {names}; got keys {list(models)}")
        models = [models[name] for name in names]
    elif callable(models) and not isinstance(models, keras.Model):
        models = [models(task) for task in tasks]
    else:
        models = list(models)
    if len(models) != len(names):
        raise ValueError(f"{argument}: expected one model per task {names}; got {len(models)}")
    for name, model in zip(names, models):
        if not isinstance(model, keras.Model):
            raise TypeError(f"{argument}: the model of task {name!r} must be a keras.Model; got "
                            f"{type(model).__name__}")
    if len({id(model) for model in models}) != len(models):
        raise ValueError(f"{argument}: every task needs its own model (the same object was given twice)")
    return models


def _encoder_input_shape(encoder) -> tuple:
    """``(height, width, channels)`` an encoder declares, or a ValueError asking for it."""
    try:
        shape = tuple(encoder.inputs[0].shape[1:])
    except (AttributeError, IndexError, ValueError):
        shape = ()
    if len(shape) != 3 or any(d is None for d in shape):
        raise ValueError(f"input_shape: encoder {encoder.name!r} does not declare a (height, width, channels) "
                         "input; pass input_shape")
    return shape


def _feature_dim(encoder, image_shape, task) -> int:
    """Width of the ``(batch, D)`` features an encoder gives for ``image_shape`` images."""
    output = encoder.compute_output_spec(keras.KerasTensor((None, *image_shape)))
    shape = tuple(output.shape)
    if len(shape) != 2 or shape[-1] is None:
        raise ValueError(
            f"encoders: the encoder of task {task.name!r} maps (batch, {', '.join(map(str, image_shape))}) images "
            f"to shape {shape}; expected (batch, features): end it with a pooling or flattening layer")
    return int(shape[-1])


def _same_tables(first, second) -> bool:
    """Whether two class-weight tables (per task an array, or None) are equal."""
    if first is None or second is None:
        return first is second
    return first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)


def pair_name(features_task: str, label_task: str) -> str:
    """Name of the adversary reading ``features_task`` features to predict ``label_task``."""
    return f"{features_task}_to_{label_task}"


def default_optimizer(learning_rate: float = TrainConfig.learning_rate):
    """Adam with the authors' betas and epsilon, for encoders and classifiers."""
    return FusedAdam(learning_rate, beta_1=0.0, beta_2=0.9, epsilon=1e-5)


def default_adversary_optimizer(
    learning_rate: float = TrainConfig.adversary_learning_rate,
    momentum: float = TrainConfig.adversary_momentum,
):
    """SGD with momentum, for the adversaries."""
    return FusedSGD(learning_rate, momentum=momentum)


def _global_average(per_example):
    """Mean over the global batch: the per-replica sum over (local batch x replicas).

    Gradients of the replicas are summed by the optimizer under ``tf.distribute``, so
    this keeps every loss the mean over the whole global batch.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    count = ops.cast(ops.shape(per_example)[0] * replicas, per_example.dtype)
    return ops.sum(per_example) / count


@keras.saving.register_keras_serializable(package="disentangle_tf")
class Disentangler(keras.Model):
    """One encoder and classifier per task, adversaries between every pair of tasks.

    For tasks ``t_1 .. t_n`` the model holds encoders ``Enc_i``, classifiers
    ``Cls_i(Enc_i(x)) -> y_i`` and, for every ordered pair ``i != j``, an adversary
    ``Adv_{i->j}(Enc_i(x)) -> y_j`` with the architecture of ``Cls_j``. Training
    alternates the paper's two objectives (Sect. 2):

    - Eq. 1, encoders and classifiers with the main optimizer (Adam):
      ``sum_i CE(y_i, Cls_i) - lambda * sum_{i != j} CE(y_j, Adv_{i->j}) + L2``,
      plus, if ``independence_weight`` is set, ``independence_weight *
      sum_{i != j} HSIC(z_i, y_j | y_i)``, the class-conditional HSIC of
      :func:`~disentangle_tf.models.objectives.conditional_hsic` (not in the paper);
    - Eq. 2, ``adversary_steps`` times, adversaries alone with the adversary optimizer
      (SGD with momentum): ``sum_{i != j} CE(y_j, Adv_{i->j}) + L2``.

    With one task there is no adversary and the model is the single-task baseline.

    Args:
        tasks: ordered list of :class:`TaskSpec` (or dicts with its fields).
        input_shape: ``(height, width, channels)`` of the images.
        encoder_filters: filters of each residual block of every encoder.
        encoder_strides: stride of each residual block.
        stem_filters: filters of each encoder's first convolution.
        activation: activation inside the residual blocks.
        feature_pooling: ``"flatten"`` or ``"average"``.
        head_units: hidden units of a head whose task does not set its own.
        l2_weight: L2 penalty on every kernel.
        synchronized_batch_norm: batch statistics over the global batch of all
            replicas under ``tf.distribute``, so that a replicated step computes
            what one device would.
        conditional_adversaries: each adversary ``Adv_{i->j}`` also reads the
            one-hot label ``y_i`` of the features' own task, ``[z_i, onehot(y_i)]``,
            so that it gains only what the features say about ``y_j`` beyond
            ``y_i``: with correlated labels the attainable target of the game
            (Zhang, Lemoine & Mitchell, "Mitigating unwanted biases with
            adversarial learning", AIES 2018; Li et al., "Deep domain
            generalization via conditional invariant adversarial networks", ECCV
            2018). Where no label is given (inference) the classifier's prediction
            stands in for ``y_i``.
        encoders: per task, a ``keras.Model`` mapping ``(batch, *input_shape)``
            images to ``(batch, D_i)`` features: a list in task order, a dict by task
            name, or a factory called with each :class:`TaskSpec`. Default: the
            paper's residual encoders, built from the architecture arguments above
            (which are then unused). ``input_shape`` may be left out when the
            encoders declare it. They are saved with the model (``get_config``);
            a custom class must be registered with
            ``keras.saving.register_keras_serializable``.
        classifiers: per task, a model mapping the features to logits (default: a
            :class:`DenseHead` sized from the encoder's output).
        adversaries: per pair ``(i, j)`` in :attr:`adversary_pairs` order, a model
            mapping task ``i``'s features (and, with conditional adversaries, the
            one-hot label) to task ``j``'s logits (default: :class:`DenseHead`).
        **kwargs: passed to ``keras.Model`` (``name``).

    Returns:
        Called on images, a dict of logits per task; with ``return_features=True``, a
        pair ``(logits, features)`` of dicts keyed by task name.

    Example:

    >>> model = Disentangler(
    ...     tasks=[TaskSpec("background", 2), TaskSpec("shape", 2)],
    ...     input_shape=(32, 32, 1), encoder_filters=(8, 16), encoder_strides=(2, 2),
    ...     head_units=(16,))
    >>> model.compile(adversarial_weight=0.01, adversary_steps=5)
    >>> sorted(model.adversary_names)
    ['background_to_shape', 'shape_to_background']

    Example with an encoder of one's own:

    >>> def small_encoder(task):
    ...     return keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Conv2D(8, 3),
    ...                              keras.layers.GlobalAveragePooling2D()], name=f"{task.name}_encoder")
    >>> model = Disentangler([TaskSpec("background", 2), TaskSpec("shape", 2)], encoders=small_encoder)
    >>> model.image_shape
    (32, 32, 1)

    Raises:
        ValueError: for repeated task names, a wrong number of given models, or an
            encoder whose output is not ``(batch, features)``.
        TypeError: for a given model that is not a ``keras.Model``.

    Reference: {reference}
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec | dict],
        input_shape: Sequence[int] | None = None,
        encoder_filters: Sequence[int] = ModelConfig.encoder_filters,
        encoder_strides: Sequence[int] = ModelConfig.encoder_strides,
        stem_filters: int = ModelConfig.stem_filters,
        activation: str = ModelConfig.activation,
        feature_pooling: str = ModelConfig.feature_pooling,
        head_units: Sequence[int] = ModelConfig.head_units,
        l2_weight: float = ModelConfig.l2_weight,
        synchronized_batch_norm: bool = ModelConfig.synchronized_batch_norm,
        conditional_adversaries: bool = ModelConfig.conditional_adversaries,
        encoders=None,
        classifiers=None,
        adversaries=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        task_specs = [t if isinstance(t, TaskSpec) else TaskSpec.from_config(t) for t in tasks]
        if not task_specs:
            raise ValueError("tasks: expected at least one task")
        names = [t.name for t in task_specs]
        if len(set(names)) != len(names):
            raise ValueError(f"tasks: task names must be unique; got {names}")

        # === Config ===
        self.tasks = tuple(task_specs)
        encoders = _per_task("encoders", encoders, self.tasks)
        if input_shape is None:
            if encoders is None:
                raise ValueError("input_shape: required when the model builds its own encoders")
            input_shape = _encoder_input_shape(encoders[0])
        self.image_shape = tuple(int(d) for d in input_shape)
        self.encoder_filters = tuple(int(f) for f in encoder_filters)
        self.encoder_strides = tuple(int(s) for s in encoder_strides)
        self.stem_filters = int(stem_filters)
        self.activation = activation
        self.feature_pooling = feature_pooling
        self.head_units = tuple(int(u) for u in head_units)
        self.l2_weight = float(l2_weight)
        self.synchronized_batch_norm = bool(synchronized_batch_norm)
        self.conditional_adversaries = bool(conditional_adversaries)
        self.task_names = tuple(names)
        self.adversary_pairs = tuple(itertools.permutations(range(len(names)), 2))
        self.adversary_names = tuple(pair_name(names[i], names[j]) for i, j in self.adversary_pairs)

        # === Layers (Keras models) ===
        # Given models are kept (and serialized in get_config); missing ones are built:
        # the paper's residual encoders and dense heads sized from the features.
        self._given = {"encoders": encoders is not None, "classifiers": classifiers is not None,
                       "adversaries": adversaries is not None}
        self.encoders = encoders if encoders is not None else [
            ResidualEncoder(
                self.image_shape, filters=self.encoder_filters, strides=self.encoder_strides,
                stem_filters=self.stem_filters, activation=activation,
                feature_pooling=feature_pooling, l2_weight=l2_weight,
                synchronized_batch_norm=self.synchronized_batch_norm, name=f"{task.name}_encoder",
            )
            for task in self.tasks
        ]
        feature_dims = [_feature_dim(encoder, self.image_shape, task) for encoder, task in
                        zip(self.encoders, self.tasks)]
        classifiers = _per_task("classifiers", classifiers, self.tasks)
        self.classifiers = classifiers if classifiers is not None else [
            DenseHead(dim, task.num_classes, units=self._units(task), l2_weight=l2_weight,
                      synchronized_batch_norm=self.synchronized_batch_norm, name=f"{task.name}_classifier")
            for dim, task in zip(feature_dims, self.tasks)
        ]
        if adversaries is not None:
            adversaries = list(adversaries.values() if isinstance(adversaries, dict) else adversaries)
            if len(adversaries) != len(self.adversary_pairs):
                raise ValueError(f"adversaries: expected {len(self.adversary_pairs)} models, one per pair "
                                 f"{list(self.adversary_names)}; got {len(adversaries)}")
        self.adversaries = adversaries if adversaries is not None else [
            DenseHead(feature_dims[i] + (self.tasks[i].num_classes if self.conditional_adversaries else 0),
                      self.tasks[j].num_classes, units=self._units(self.tasks[j]),
                      l2_weight=l2_weight, synchronized_batch_norm=self.synchronized_batch_norm,
                      name=f"adversary_{name}")
            for (i, j), name in zip(self.adversary_pairs, self.adversary_names)
        ]

        # === Metrics (keras.metrics trackers: fit, callbacks and TensorBoard see them) ===
        mean = keras.metrics.Mean
        accuracy = keras.metrics.SparseCategoricalAccuracy
        # ``loss``: the sum of the task cross-entropies (each a weighted mean over the
        # batch), the quantity a model is selected on; Keras's callbacks monitor it
        # (``val_loss`` on validation data) at their defaults.
        self.loss_tracker = mean(name="loss")
        self.encoder_loss_tracker = mean(name="encoder_loss")
        self.adversary_loss_tracker = mean(name="adversary_loss")
        self.independence_loss_tracker = mean(name="independence_loss")
        self.task_loss_trackers = [mean(name=f"{n}_loss") for n in names]
        self.task_accuracy_trackers = [accuracy(name=f"{n}_accuracy") for n in names]
        self.adversary_loss_trackers = [mean(name=f"adversary_{n}_loss") for n in self.adversary_names]
        self.adversary_accuracy_trackers = [
            accuracy(name=f"adversary_{n}_accuracy") for n in self.adversary_names
        ]
        # The factor a schedule (callbacks.PenaltySchedule) applies to lambda and the
        # independence weight; a variable, so that changing it needs no new trace.
        self.penalty_scale = self.add_weight(shape=(), initializer="ones", trainable=False,
                                             name="penalty_scale")
        self.built = True
        self._set_training_defaults()

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
        """``keras.Model.export``, its input signature by default the model's images.

        The default signature is float32 ``(batch, height, width, channels)``,
        per-image z-scored images as the model is trained on; the endpoint ``serve``
        returns per task its logits. For the package's SavedModel with probabilities,
        features and a raw-image endpoint, see
        :func:`disentangle_tf.export.export_saved_model`.
        """
        if input_signature is None:
            input_signature = [tf.TensorSpec((None, *self.image_shape), tf.float32, name="images")]
        return super().export(filepath, format=format, verbose=verbose, input_signature=input_signature,
                              **kwargs)

    def _units(self, task: TaskSpec) -> tuple[int, ...]:
        return self.head_units if task.head_units is None else task.head_units

    def _set_training_defaults(self):
        self.adversarial_weight = 0.0
        self.adversary_steps = 0
        self.adversary_batches = "same"
        self.adversarial_objective = "maximize_cross_entropy"
        self.independence_weight = 0.0
        self.independence_bandwidth = "class"
        self.adversarial_training = "alternating"
        self.independence_layers = "features"
        self._block_taps = []
        self.factored_adversary_updates = True
        self.adversary_optimizer = None
        self._class_weights = None

    # ------------------------------------------------------------------ forward
    def call(self, images, training=False, return_features=False):
        features = {t: enc(images, training=training) for t, enc in zip(self.task_names, self.encoders)}
        logits = {
            t: cls(features[t], training=training) for t, cls in zip(self.task_names, self.classifiers)
        }
        if return_features:
            return logits, features
        return logits

    def _encode(self, images, training, with_blocks=False):
        """Every encoder's features and, ``with_blocks``, its blocks' averaged outputs.

        Returns:
            ``(features, blocks)``: per task the features, and per task a list of
            ``(N, C_b)`` global averages of the residual blocks' outputs (None without
            ``with_blocks``).
        """
        if not with_blocks:
            return [encoder(images, training=training) for encoder in self.encoders], None
        features, blocks = [], []
        for tap in self._block_taps:
            *maps, final = tap(images, training=training)
            features.append(final)
            blocks.append([ops.mean(m, axis=(1, 2)) for m in maps])
        return features, blocks

    def _build_block_taps(self):
        """Per encoder, a model sharing its layers that also returns each block's output."""
        taps = []
        for encoder in self.encoders:
            names = [layer.name for layer in encoder.layers if layer.name.startswith("block")
                     and layer.name.endswith("_add")]
            if not names:
                raise ValueError(
                    f"independence_layers='blocks' reads residual blocks (layers named block<i>_add); "
                    f"encoder {encoder.name!r} has none"
                )
            taps.append(keras.Model(encoder.inputs, [*[encoder.get_layer(n).output for n in names], encoder.output],
                                    name=f"{encoder.name}_taps"))
        return taps

    def _forward(self, images, training, labels=None, reverse_gradient_scale=None, features=None):
        """Features, task logits and adversary logits, as lists in task / pair order.

        ``labels`` (per task, or None) condition conditional adversaries; a missing
        label, or a label of -1, is replaced by the classifier's prediction. With
        ``reverse_gradient_scale`` the adversaries read the features through a gradient
        reversal layer of that scale. ``features`` already computed from ``images`` are
        used as they are.
        """
        if features is None:
            features, _ = self._encode(images, training)
        task_logits = [cls(f, training=training) for cls, f in zip(self.classifiers, features)]
        adversary_features = features
        if reverse_gradient_scale is not None:
            adversary_features = [_reverse_gradient(f, reverse_gradient_scale) for f in features]
        if self.conditional_adversaries:
            predicted = [ops.cast(ops.argmax(z, axis=-1), "int32") for z in task_logits]
            labels = predicted if labels is None else [
                p if y is None else ops.where(ops.cast(y, "int32") < 0, p, ops.cast(y, "int32"))
                for y, p in zip(labels, predicted)
            ]
        adversary_logits = [
            adversary(x, training=training)
            for adversary, x in zip(self.adversaries, self.adversary_inputs(adversary_features, labels))
        ]
        return features, task_logits, adversary_logits

    def adversary_inputs(self, features, labels):
        """What each adversary reads, in pair order.

        Args:
            features: per task, ``(N, D_i)`` features.
            labels: per task, ``(N,)`` integer labels (read only with
                ``conditional_adversaries``).

        Returns:
            Per pair ``(i, j)``, ``z_i`` or, with conditional adversaries,
            ``[z_i, onehot(y_i)]`` of shape ``(N, D_i + K_i)``.
        """
        if not self.conditional_adversaries:
            return [features[i] for i, _ in self.adversary_pairs]
        return [
            ops.concatenate([features[i], ops.cast(ops.one_hot(ops.cast(ops.reshape(labels[i], (-1,)), "int32"),
                                                               self.tasks[i].num_classes), features[i].dtype)],
                            axis=-1)
            for i, _ in self.adversary_pairs
        ]

    def predict_probabilities(self, images):
        """Softmax probabilities per task (a dict), computed in inference mode."""
        return {t: ops.softmax(logits, axis=-1) for t, logits in self(images, training=False).items()}

    # ------------------------------------------------------------------ compile
    def compile(
        self,
        optimizer="auto",
        adversary_optimizer="auto",
        adversarial_weight: float = 0.01,
        adversary_steps: int = 5,
        adversary_batches: str = "fresh",
        adversarial_objective: str = "maximize_cross_entropy",
        independence_weight: float = 0.0,
        independence_bandwidth: str = "class",
        adversarial_training: str = "alternating",
        independence_layers: str = "features",
        jit_compile: bool = False,
        steps_per_execution: int = 1,
        run_eagerly: bool = False,
        factored_adversary_updates: bool = True,
    ):
        """Configure the two optimizers and the adversarial game.

        The defaults are the paper's method (Sect. 2 and the authors' code); the
        package's recommended setting is ``adversarial_weight=0.0,
        adversary_batches="same", independence_weight=10.0,
        independence_layers="blocks"`` (``docs/method.rst``).

        Args:
            optimizer: optimizer of encoders and classifiers (Eq. 1): an instance, or a
                name as Keras reads it. ``"auto"`` (the default) is the authors'
                setting, ``FusedAdam(1e-3, beta_1=0.0, beta_2=0.9, epsilon=1e-5)``;
                ``"adam"`` is Keras's Adam with its defaults. Both run as
                :class:`~disentangle_tf.optimizers.FusedAdam` (Keras's Adam in one
                kernel per variable, the same update).
            adversary_optimizer: optimizer of the adversaries (Eq. 2). ``"auto"`` is
                ``FusedSGD(1e-2, momentum=0.9)``; ``"sgd"`` is Keras's SGD with its
                defaults (no momentum), run as
                :class:`~disentangle_tf.optimizers.FusedSGD`.
            adversarial_weight: lambda of Eq. 1; 0 trains the tasks independently of
                the adversaries (which are still trained, as probes).
            adversary_steps: adversary updates after each main update (paper: 5).
            adversary_batches: ``"fresh"``: each adversary step sees a new batch (the
                authors' code); the data must then come from
                :func:`disentangle_tf.data.make_training_dataset` (``fit`` builds it
                itself from arrays). Before each adversary update the encoders run on
                its batch in training mode and without a gradient tape, which also
                updates their batch-norm moving statistics. ``"same"``:
                the adversary steps reuse the features of the main batch (cheaper).
            adversarial_objective: ``"maximize_cross_entropy"`` (paper) or
                ``"uniform"``; see :mod:`disentangle_tf.models.objectives`.
            independence_weight: weight of the class-conditional HSIC penalty between
                each task's features and every other task's label, given the
                features' own label; 0 (the paper) leaves it out. The metric
                ``independence_loss`` is tracked when it is on.
            independence_bandwidth: the Gaussian kernel's median-heuristic domain,
                ``"class"`` (within each class; the default) or ``"batch"``; see
                :func:`~disentangle_tf.models.objectives.conditional_hsic`.
            adversarial_training: ``"alternating"`` (the paper): Eq. 1 moves the
                encoders against the adversaries as they are, then Eq. 2 moves the
                adversaries. ``"gradient_reversal"`` (Ganin & Lempitsky,
                "Unsupervised domain adaptation by backpropagation", ICML 2015): one
                backward pass moves both, the adversaries' gradient reaching the
                encoders multiplied by ``-lambda``; the adversaries are then updated
                ``adversary_steps`` more times as in Eq. 2 (0 is the plain DANN step).
                Needs ``adversarial_objective="maximize_cross_entropy"``.
            independence_layers: ``"features"``: the independence penalty reads each
                encoder's features; ``"blocks"``: also the global average of every
                residual block's output, one penalty per block, so that the nuisance
                is removed where it enters and not only undone at the end.
            jit_compile: compile the training step with XLA.
            steps_per_execution: training steps run per call of the compiled function.
            run_eagerly: run the steps eagerly (debugging).
            factored_adversary_updates: with ``adversary_batches="same"`` and SGD with
                momentum, update each adversary's first dense kernel in factored form
                (:mod:`~disentangle_tf.models.factored_adversary_updates`): the same
                result up to rounding, without reading and writing the kernel in every
                step. Other optimizer settings use the plain updates.
        """
        objectives.get_objective(adversarial_objective)
        if adversary_batches not in ADVERSARY_BATCHES:
            raise ValueError(
                f"adversary_batches must be one of {', '.join(ADVERSARY_BATCHES)}; got {adversary_batches!r}"
            )
        if int(adversary_steps) < 0:
            raise ValueError(f"adversary_steps must be >= 0; got {adversary_steps}")
        if float(adversarial_weight) < 0:
            raise ValueError(f"adversarial_weight must be >= 0; got {adversarial_weight}")
        if adversarial_training not in ADVERSARIAL_TRAINING:
            raise ValueError(
                f"adversarial_training must be one of {', '.join(ADVERSARIAL_TRAINING)}; "
                f"got {adversarial_training!r}"
            )
        if adversarial_training == "gradient_reversal" and adversarial_objective != "maximize_cross_entropy":
            raise ValueError(
                "adversarial_training='gradient_reversal' reverses the adversaries' own gradient, which is "
                f"adversarial_objective='maximize_cross_entropy'; got {adversarial_objective!r}"
            )
        if independence_layers not in INDEPENDENCE_LAYERS:
            raise ValueError(
                f"independence_layers must be one of {', '.join(INDEPENDENCE_LAYERS)}; got {independence_layers!r}"
            )
        if independence_bandwidth not in objectives.BANDWIDTHS:
            raise ValueError(
                f"independence_bandwidth must be one of {', '.join(objectives.BANDWIDTHS)}; "
                f"got {independence_bandwidth!r}"
            )
        if float(independence_weight) < 0:
            raise ValueError(f"independence_weight must be >= 0; got {independence_weight}")
        optimizer = _optimizer(optimizer, default_optimizer)
        adversary_optimizer = _optimizer(adversary_optimizer, default_adversary_optimizer)
        self._compile_arguments = {
            "optimizer": optimizer,
            "adversary_optimizer": adversary_optimizer,
            "adversarial_weight": float(adversarial_weight),
            "adversary_steps": int(adversary_steps),
            "adversary_batches": adversary_batches,
            "adversarial_objective": adversarial_objective,
            "independence_weight": float(independence_weight),
            "independence_bandwidth": independence_bandwidth,
            "adversarial_training": adversarial_training,
            "independence_layers": independence_layers,
            "jit_compile": bool(jit_compile),
            "steps_per_execution": int(steps_per_execution),
            "factored_adversary_updates": bool(factored_adversary_updates),
        }
        super().compile(
            optimizer=optimizer, jit_compile=jit_compile,
            steps_per_execution=steps_per_execution, run_eagerly=run_eagerly,
        )
        if self.dtype_policy.name == "mixed_float16" and not isinstance(
            adversary_optimizer, keras.optimizers.LossScaleOptimizer
        ):
            adversary_optimizer = keras.optimizers.LossScaleOptimizer(adversary_optimizer)
        self.adversary_optimizer = adversary_optimizer
        self.adversarial_weight = float(adversarial_weight)
        self.adversary_steps = int(adversary_steps)
        self.adversary_batches = adversary_batches
        self.adversarial_objective = adversarial_objective
        self.independence_weight = float(independence_weight)
        self.independence_bandwidth = independence_bandwidth
        self.adversarial_training = adversarial_training
        self.independence_layers = independence_layers
        self._block_taps = self._build_block_taps() if independence_layers == "blocks" else []
        self.factored_adversary_updates = bool(factored_adversary_updates)
        self._penalty = objectives.get_objective(adversarial_objective)
        # Build each optimizer on its own variables only, so that neither keeps slots
        # for the other's variables and saved optimizer states load back one to one.
        self.optimizer.build(self.encoder_variables)
        if self.adversaries:
            self.adversary_optimizer.build(self.adversary_variables)

    def get_compile_config(self):
        if not getattr(self, "_compile_arguments", None):
            return None
        config = dict(self._compile_arguments)
        for key in ("optimizer", "adversary_optimizer"):
            config[key] = keras.saving.serialize_keras_object(config[key])
        return config

    def compile_from_config(self, config):
        config = dict(config)
        for key in ("optimizer", "adversary_optimizer"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        self.compile(**config)

    @property
    def encoder_variables(self):
        """Trainable variables moved by Eq. 1 (those of every encoder and classifier)."""
        return [v for model in (*self.encoders, *self.classifiers) for v in model.trainable_variables]

    @property
    def adversary_variables(self):
        """Trainable variables moved by Eq. 2 (those of every adversary)."""
        return [v for model in self.adversaries for v in model.trainable_variables]

    @property
    def metrics(self):
        independence = [self.independence_loss_tracker] if self.independence_weight > 0 else []
        return [
            self.loss_tracker, self.encoder_loss_tracker, self.adversary_loss_tracker, *independence,
            *self.task_loss_trackers, *self.task_accuracy_trackers,
            *self.adversary_loss_trackers, *self.adversary_accuracy_trackers,
        ]

    # ------------------------------------------------------------------ training
    def _task_labels(self, labels):
        if isinstance(labels, dict):
            missing = [t for t in self.task_names if t not in labels]
            if missing:
                raise ValueError(f"labels: missing task(s) {missing}; expected keys {list(self.task_names)}")
            return [labels[t] for t in self.task_names]
        if len(self.task_names) == 1 and not isinstance(labels, (list, tuple)):
            return [labels]
        return list(labels)

    def _split_data(self, data):
        """``(images, labels, sample_weight)`` of the main batch and the fresh adversary batch or None."""
        first = data[0]
        if isinstance(first, (tuple, list)):
            main, (adversary_images, adversary_labels) = data
            images, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(tuple(main))
            fresh = (adversary_images, self._task_labels(adversary_labels))
            return images, self._task_labels(labels), sample_weight, fresh
        images, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if labels is None:
            raise ValueError("data: expected (images, labels) or (images, labels, sample_weight) batches; "
                             "got images without labels")
        return images, self._task_labels(labels), sample_weight, None

    def _task_weights(self, labels, sample_weight=None, class_weights=None):
        """Per task, the ``(N,)`` float32 weight of each example's losses.

        The product of the sample weight (one array for every task, or a dict per
        task), the class weight of the example's label, and 0 where the task's label
        is missing (a negative label, :data:`MISSING_LABEL`): a missing label moves
        nothing through that task's loss or the adversaries that predict it.
        """
        weights = []
        for t, (name, y) in enumerate(zip(self.task_names, labels)):
            y = ops.reshape(ops.cast(y, "int32"), (-1,))
            weight = ops.cast(y >= 0, "float32")
            if sample_weight is not None:
                given = sample_weight[name] if isinstance(sample_weight, dict) else sample_weight
                weight = weight * ops.reshape(ops.cast(given, "float32"), (-1,))
            table = (class_weights or {}).get(name)
            if table is not None:
                weight = weight * ops.take(ops.convert_to_tensor(table, "float32"), ops.maximum(y, 0))
            weights.append(weight)
        return weights

    def _per_example_losses(self, labels, task_logits, adversary_logits, weights):
        """Per-example weighted losses of every task, adversary and encoder penalty.

        Task ``i``'s loss is weighted by its example weights; the adversary ``i -> j``
        and its penalty by those of task ``j``, the label it predicts.
        """
        labels = [ops.maximum(ops.cast(y, "int32"), 0) for y in labels]
        task = [objectives.sparse_cross_entropy(y, z) * w for y, z, w in zip(labels, task_logits, weights)]
        adversary = [
            objectives.sparse_cross_entropy(labels[j], z) * weights[j]
            for z, (_, j) in zip(adversary_logits, self.adversary_pairs)
        ]
        penalty = [self._penalty(labels[j], z) * weights[j]
                   for z, (_, j) in zip(adversary_logits, self.adversary_pairs)]
        return task, adversary, penalty

    def _weight_penalty(self, models):
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        losses = [loss for model in models for loss in model.losses]
        return ops.cast(ops.sum(ops.stack(losses)), "float32") / replicas if losses else 0.0

    def _independence_loss(self, features, labels, weights=None):
        """Sum over pairs ``i != j`` of the HSIC of ``z_i`` and ``y_j`` given ``y_i``.

        Examples of weight 0 for task ``i`` or ``j`` (a missing label, a zero sample
        weight) are left out of the pair's estimate; other weights do not scale it.
        Computed on each replica's batch; divided by the number of replicas so that the
        summed gradients are those of the mean over replicas.
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        weights = self._task_weights(labels) if weights is None else weights
        return sum(
            objectives.conditional_hsic(features[i], labels[j], labels[i],
                                        self.tasks[i].num_classes, self.tasks[j].num_classes,
                                        bandwidth=self.independence_bandwidth,
                                        mask=ops.cast((weights[i] > 0) & (weights[j] > 0), "float32"))
            for i, j in self.adversary_pairs
        ) / replicas

    def _eq1(self, images, labels, training, reverse_gradient=False, sample_weight=None):
        """Forward pass and Eq. 1 without its L2 term (what train and test steps share).

        With ``reverse_gradient`` the adversaries read the features through a gradient
        reversal layer of scale lambda (times the schedule's factor), and Eq. 1 leaves
        the adversarial term out: the reversed gradient of the adversaries' own loss
        stands in for it. ``sample_weight`` (and, in training, the class weights given
        to ``fit``) weight each example's losses (:meth:`_task_weights`).
        """
        weights = self._task_weights(labels, sample_weight, self._class_weights if training else None)
        scale = ops.cast(self.penalty_scale, "float32")
        # With lambda = 0 the reversal layer still stands (of scale 0), so that the
        # adversaries' loss never reaches the encoders un-reversed.
        reverse = self.adversarial_weight * scale if reverse_gradient else None
        with_blocks = self.independence_weight > 0 and self.independence_layers == "blocks"
        features, block_means = self._encode(images, training, with_blocks=with_blocks)
        features, task_logits, adversary_logits = self._forward(
            images, training=training, labels=labels, reverse_gradient_scale=reverse, features=features)
        task_losses, adversary_losses, penalties = self._per_example_losses(
            labels, task_logits, adversary_logits, weights)
        independence_loss = 0.0
        if self.independence_weight > 0:
            independence_loss = self._independence_loss(features, labels, weights)
            for level in zip(*block_means) if with_blocks else ():
                independence_loss += self._independence_loss(list(level), labels, weights)
        encoder_loss = sum(_global_average(l) for l in task_losses)
        if self.independence_weight > 0:
            encoder_loss += scale * self.independence_weight * independence_loss
        if self.adversarial_weight and reverse is None:
            # With lambda = 0 the adversaries run forward for their metrics only: no
            # gradient through them into the encoders is computed.
            encoder_loss += scale * self.adversarial_weight * sum(_global_average(p) for p in penalties)
        return _StepOutputs(features, task_logits, adversary_logits, task_losses, adversary_losses,
                            independence_loss, encoder_loss, weights)

    # The steps have no Python control flow on tensors (the adversary loop is an explicit
    # tf.while_loop), so AutoGraph need not rewrite them and everything they call: that
    # rewriting was a third of the time spent tracing a step.
    @tf.autograph.experimental.do_not_convert
    def train_step(self, data):
        images, labels, sample_weight, fresh = self._split_data(data)
        if self.adversarial_training == "gradient_reversal" and self.adversaries:
            return self._gradient_reversal_step(images, labels, fresh, sample_weight)

        # Eq. 1: encoders + classifiers minimise the task losses - lambda * adversary losses
        # (+ the optional independence penalty) + L2.
        with tf.GradientTape() as tape:
            step = self._eq1(images, labels, training=True, sample_weight=sample_weight)
            encoder_loss = step.encoder_loss + self._weight_penalty([*self.encoders, *self.classifiers])
            scaled_loss = self.optimizer.scale_loss(encoder_loss)
        gradients = tape.gradient(scaled_loss, self.encoder_variables)
        self.optimizer.apply_gradients(zip(gradients, self.encoder_variables))

        # Eq. 2: adversaries alone minimise their cross-entropy, adversary_steps times.
        self._train_adversaries(step.features, labels, fresh, step.weights)

        return self._update_metrics(labels, step._replace(encoder_loss=encoder_loss))

    def _gradient_reversal_step(self, images, labels, fresh, sample_weight=None):
        """One backward pass for Eq. 1 and Eq. 2 through a gradient reversal layer.

        The encoders and classifiers descend ``task losses + independence penalty +
        L2 - lambda * adversary losses`` (the reversed gradient), the adversaries
        descend their own loss + L2, each with its own optimizer; then
        ``adversary_steps`` further adversary updates as in Eq. 2.
        """
        with tf.GradientTape(persistent=True) as tape:
            step = self._eq1(images, labels, training=True, reverse_gradient=True, sample_weight=sample_weight)
            encoder_loss = step.encoder_loss + self._weight_penalty([*self.encoders, *self.classifiers])
            adversary_loss = sum(_global_average(l) for l in step.adversary_losses) + self._weight_penalty(
                self.adversaries)
            scaled_loss = self.optimizer.scale_loss(encoder_loss + adversary_loss)
            scaled_adversary_loss = self.adversary_optimizer.scale_loss(adversary_loss)
        gradients = tape.gradient(scaled_loss, self.encoder_variables)
        adversary_gradients = tape.gradient(scaled_adversary_loss, self.adversary_variables)
        del tape
        self.optimizer.apply_gradients(zip(gradients, self.encoder_variables))
        self.adversary_optimizer.apply_gradients(zip(adversary_gradients, self.adversary_variables))
        self._train_adversaries(step.features, labels, fresh, step.weights)
        # Report the encoders' objective as the alternating step does: with the
        # adversarial term, -lambda times the adversaries' cross-entropy.
        reported = encoder_loss - self.adversarial_weight * ops.cast(self.penalty_scale, "float32") * sum(
            _global_average(l) for l in step.adversary_losses)
        return self._update_metrics(labels, step._replace(encoder_loss=reported))

    def _train_adversaries(self, features, labels, fresh, weights):
        """``adversary_steps`` updates of Eq. 2 on frozen encoder features.

        ``weights`` (per task, ``(N,)``) weight the main batch's examples; a fresh
        batch's examples weigh 1, or 0 where a label is missing.

        ``"same"``: every step reads the main batch's features. ``"fresh"``: step ``s``
        runs the encoders (training mode, no gradient tape, so their batch-norm moving
        statistics follow all data) on the ``s``-th adversary batch. On one replica the
        steps run in a ``tf.while_loop``: one traced body whatever the number of steps,
        and only one adversary batch's activations alive at a time. Under a strategy
        that synchronises replicas (``MirroredStrategy``, even with one replica), whose
        optimizer updates cannot run inside a while loop, they are unrolled.
        """
        if not self.adversaries or self.adversary_steps == 0:
            return
        if self.adversary_batches == "fresh":
            if fresh is None:
                raise ValueError(
                    "adversary_batches='fresh' needs adversary batches in the data: build it with "
                    "disentangle_tf.data.make_training_dataset(..., adversary_steps=N), pass arrays to "
                    "fit, or compile with adversary_batches='same'"
                )
            adversary_images, adversary_labels = fresh
            self._check_adversary_batch(features[0], adversary_images)
        else:
            frozen = [ops.stop_gradient(f) for f in features]
            if self.factored_adversary_updates and factored_updates_apply(self.adversary_optimizer, self.adversaries):
                factored_same_batch_updates(
                    self.adversaries, self.adversary_inputs(frozen, labels),
                    [ops.maximum(ops.cast(labels[j], "int32"), 0) for _, j in self.adversary_pairs],
                    self.adversary_optimizer, self.adversary_steps,
                    weights=[weights[j] for _, j in self.adversary_pairs],
                )
                return

        def one_step(s):
            if self.adversary_batches == "same":
                self._adversary_update(frozen, labels, weights)
            else:
                # Adversary batch s is slice s of the (batch, steps, ...) layout.
                images = adversary_images[:, s]
                step_features = [ops.stop_gradient(encoder(images, training=True)) for encoder in self.encoders]
                step_labels = [y[:, s] for y in adversary_labels]
                self._adversary_update(step_features, step_labels, self._task_weights(step_labels))

        if replicated_strategy_active() or tf.executing_eagerly():
            for s in range(self.adversary_steps):
                one_step(s)
            return

        def body(s):
            one_step(s)
            return (s + 1,)

        tf.while_loop(lambda s: s < self.adversary_steps, body, (tf.constant(0),))

    def _check_adversary_batch(self, main_features, adversary_images):
        """The fresh batch must hold ``adversary_steps`` main batches."""
        message = (
            f"adversary data must hold adversary_steps={self.adversary_steps} batches of the main "
            "batch size; build the dataset with make_training_dataset(..., "
            f"adversary_steps={self.adversary_steps})"
        )
        if adversary_images.shape.rank != 5:
            raise ValueError(f"{message}; got adversary images of shape {adversary_images.shape}")
        if adversary_images.shape[1] != self.adversary_steps:
            raise ValueError(f"{message}; got {adversary_images.shape[1]} adversary batches")
        tf.debugging.assert_equal(
            tf.shape(adversary_images)[0], tf.shape(main_features)[0], message=message
        )

    def _adversary_update(self, features, labels, weights):
        with tf.GradientTape() as tape:
            adversary_loss = sum(
                _global_average(weights[j] * objectives.sparse_cross_entropy(
                    ops.maximum(ops.cast(labels[j], "int32"), 0), adversary(x, training=True)))
                for adversary, x, (_, j) in zip(self.adversaries, self.adversary_inputs(features, labels),
                                                self.adversary_pairs)
            ) + self._weight_penalty(self.adversaries)
            scaled_loss = self.adversary_optimizer.scale_loss(adversary_loss)
        gradients = tape.gradient(scaled_loss, self.adversary_variables)
        self.adversary_optimizer.apply_gradients(zip(gradients, self.adversary_variables))

    def _update_independence_metric(self, independence_loss):
        if self.independence_weight > 0:
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            self.independence_loss_tracker.update_state(independence_loss * replicas)

    @tf.autograph.experimental.do_not_convert
    def test_step(self, data):
        images, labels, sample_weight, _ = self._split_data(data)
        return self._update_metrics(labels, self._eq1(images, labels, training=False, sample_weight=sample_weight))

    def _update_metrics(self, labels, step):
        task_logits, adversary_logits = step.task_logits, step.adversary_logits
        task_losses, adversary_losses, encoder_loss = step.task_losses, step.adversary_losses, step.encoder_loss
        self._update_independence_metric(step.independence_loss)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        # Weight the per-batch scalars by the (local) batch size, so that over batches of
        # unequal size (a last partial batch) the result is the mean over examples.
        batch_size = ops.cast(ops.shape(labels[0])[0], "float32")
        self.encoder_loss_tracker.update_state(encoder_loss * replicas, sample_weight=batch_size)
        self.adversary_loss_tracker.update_state(
            sum(ops.mean(l) for l in adversary_losses) if adversary_losses else 0.0,
            sample_weight=batch_size,
        )
        self.loss_tracker.update_state(sum(ops.mean(l) for l in task_losses), sample_weight=batch_size)
        weights = step.weights
        for tracker, loss in zip(self.task_loss_trackers, task_losses):
            tracker.update_state(loss)
        for tracker, y, z, w in zip(self.task_accuracy_trackers, labels, task_logits, weights):
            tracker.update_state(y, z, sample_weight=w)
        for tracker, loss in zip(self.adversary_loss_trackers, adversary_losses):
            tracker.update_state(loss)
        for tracker, z, (_, j) in zip(self.adversary_accuracy_trackers, adversary_logits, self.adversary_pairs):
            tracker.update_state(labels[j], z, sample_weight=weights[j])
        results = {m.name: m.result() for m in self.metrics}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras reduces step results across workers along axis 0, which a scalar lacks.
            results = {name: ops.reshape(value, [1]) for name, value in results.items()}
        return results

    def check_data(self, data) -> None:
        """Check that labelled images fit this model; ValueError naming what is wrong.

        Args:
            data: a :class:`~disentangle_tf.data.LabelledImages`.
        """
        self._check_images_shape(data.image_shape)
        self._checked_labels(data.labels, len(data))

    def _check_images_shape(self, shape):
        shape = tuple(shape)
        if shape != tuple(self.image_shape):
            shown = ", ".join("?" if d is None else str(d) for d in shape)
            raise ValueError(
                f"images: expected shape (N, {', '.join(map(str, self.image_shape))}), got (N, {shown})"
            )

    def _checked_labels(self, labels, count: int) -> dict:
        """Per task, ``(count,)`` int32 labels; one-hot rows become class indices.

        Raises:
            ValueError: naming the task whose labels are missing, of the wrong shape
                or dtype, or out of ``[MISSING_LABEL, num_classes)``.
        """
        if not isinstance(labels, dict):
            labels = dict(zip(self.task_names, self._task_labels(labels)))
        checked = {}
        for task in self.tasks:
            if task.name not in labels:
                raise ValueError(f"labels: missing task {task.name!r}; expected keys {list(self.task_names)}")
            values = np.asarray(labels[task.name])
            if values.ndim == 2 and values.shape[1] == task.num_classes and values.shape[0] == count:
                one_hot = np.isin(values, (0, 1)).all() and (values.sum(axis=1) == 1).all()
                if not one_hot:
                    raise ValueError(
                        f"labels[{task.name!r}]: a 2-D label array must be one-hot (one 1 per row); "
                        "got other values: pass integer class indices of shape (N,)")
                values = values.argmax(axis=1)
            if values.shape != (count,):
                raise ValueError(
                    f"labels[{task.name!r}]: expected integer class indices of shape ({count},) "
                    f"or one-hot labels of shape ({count}, {task.num_classes}); got shape {values.shape}")
            if not np.issubdtype(values.dtype, np.integer):
                if not (np.issubdtype(values.dtype, np.floating) and np.all(values == np.round(values))):
                    raise ValueError(
                        f"labels[{task.name!r}]: expected integer class indices; got dtype {values.dtype}")
            if count and (values.min() < MISSING_LABEL or values.max() >= task.num_classes):
                raise ValueError(
                    f"labels[{task.name!r}]: class indices must be in [0, {task.num_classes}) "
                    f"(or {MISSING_LABEL} for a missing label); found {int(values.min())}..{int(values.max())}"
                )
            checked[task.name] = values.astype(np.int32)
        return checked

    def _checked_sample_weight(self, sample_weight, count: int):
        """``sample_weight`` as float32 ``(count,)`` (or a dict of them per task)."""
        if sample_weight is None:
            return None
        items = sample_weight.items() if isinstance(sample_weight, dict) else [(None, sample_weight)]
        checked = {}
        for task, values in items:
            where = "sample_weight" if task is None else f"sample_weight[{task!r}]"
            if task is not None and task not in self.task_names:
                raise ValueError(f"{where}: not a task of this model; expected keys {list(self.task_names)}")
            values = np.asarray(values, dtype=np.float32).reshape(-1) if np.ndim(values) <= 2 else None
            if values is None or values.shape != (count,):
                raise ValueError(f"{where}: expected shape ({count},), one weight per image")
            if not np.all(np.isfinite(values)) or values.min(initial=0.0) < 0:
                raise ValueError(f"{where}: weights must be finite and >= 0")
            checked[task] = values
        return checked[None] if None in checked else checked

    def _checked_class_weight(self, class_weight):
        """Per task, a float32 table of class weights (1 for classes not named), or None."""
        if not class_weight:
            return None
        if not all(isinstance(key, str) for key in class_weight):
            if len(self.tasks) != 1:
                raise ValueError(
                    "class_weight: this model has several tasks; give a dict per task, e.g. "
                    f"{{{self.task_names[0]!r}: {{0: 1.0, 1: 5.0}}}}")
            class_weight = {self.task_names[0]: class_weight}
        tables = {}
        for task_name, weights in class_weight.items():
            if task_name not in self.task_names:
                raise ValueError(f"class_weight: {task_name!r} is not a task of this model; "
                                 f"expected keys {list(self.task_names)}")
            task = self.tasks[self.task_names.index(task_name)]
            table = np.ones(task.num_classes, np.float32)
            for index, weight in dict(weights).items():
                if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
                        or not 0 <= index < task.num_classes:
                    raise ValueError(f"class_weight[{task_name!r}]: class {index!r} is not in "
                                     f"[0, {task.num_classes})")
                if not np.isfinite(weight) or weight < 0:
                    raise ValueError(f"class_weight[{task_name!r}][{index}]: expected a finite weight >= 0; "
                                     f"got {weight!r}")
                table[index] = weight
            tables[task_name] = table
        return tables

    def _check_dataset(self, dataset):
        """Check a dataset's element spec against the model, one line naming what is wrong."""
        spec = dataset.element_spec
        main = spec[0] if isinstance(spec, tuple) and isinstance(spec[0], tuple) else spec
        if not isinstance(main, tuple) or len(main) < 2:
            raise ValueError("dataset: expected (images, labels) or (images, labels, sample_weight) elements")
        images, labels = main[0], main[1]
        if images.shape.rank is not None and images.shape.rank >= 3:
            self._check_images_shape(images.shape[-3:])
        labels = labels if isinstance(labels, dict) else dict(zip(self.task_names, labels if isinstance(
            labels, (tuple, list)) else [labels]))
        for task in self.task_names:
            label_spec = labels.get(task)
            if label_spec is None:
                raise ValueError(f"dataset: labels have no task {task!r}; expected keys {list(self.task_names)}")
            if label_spec.shape.rank is not None and label_spec.shape.rank > 1:
                raise ValueError(
                    f"dataset: labels[{task!r}] have shape {label_spec.shape}; expected integer class "
                    "indices of shape (batch,) (for one-hot labels use argmax)")

    def fit(self, x=None, y=None, batch_size=None, epochs=1, shuffle=True, sample_weight=None,
            class_weight=None, validation_split=0.0, validation_data=None, **kwargs):
        """``keras.Model.fit``, with the data checked first and every task weighted.

        Arrays are checked once (image shape, labels' shape, range and dtype; one-hot
        labels are turned into class indices) and a dataset's element spec likewise,
        each failure a ``ValueError`` of one line. A label of :data:`MISSING_LABEL`
        (-1) marks a missing label: the example is skipped by that task's loss and
        accuracy and by the adversaries that predict it.

        With ``adversary_batches="fresh"`` and array inputs the data are wrapped by
        :func:`disentangle_tf.data.make_training_dataset` so that every adversary step
        sees a fresh batch. Datasets are used as given.

        Args:
            sample_weight: ``(N,)`` weights of the examples, or a dict of them per task
                (datasets may yield ``(images, labels, sample_weight)`` instead). Each
                task's cross-entropy, and the adversaries' that predict its label, are
                the weighted mean ``sum(w * CE) / N``; an example of weight 0 moves
                nothing, and is left out of the independence penalty.
            class_weight: per task a dict ``{class index: weight}`` (for a one-task
                model the inner dict alone), multiplying the sample weights in
                training; classes not named weigh 1.
            validation_split: with arrays, the fraction of examples, taken from the
                end before shuffling as in Keras, held out for validation.
            x, y, batch_size, epochs, shuffle, validation_data, **kwargs: as in
                ``keras.Model.fit``.

        Raises:
            ValueError: for data or weights that do not fit the model.
        """
        tables = self._checked_class_weight(class_weight)
        if not _same_tables(tables, self._class_weights):
            self._class_weights = tables
            self.train_function = None  # the class weights are constants of the traced step
        if isinstance(x, tf.data.Dataset):
            self._check_dataset(x)
            if validation_split:
                raise ValueError("validation_split: needs arrays; with a dataset pass validation_data")
            if sample_weight is not None:
                raise ValueError("sample_weight: with a dataset, yield (images, labels, sample_weight) instead")
        elif x is not None and y is not None:
            images = np.asarray(x)
            if images.ndim != 4:
                raise ValueError(f"images: expected an array of shape (N, H, W, C); got shape {images.shape}")
            self._check_images_shape(images.shape[1:])
            count = images.shape[0]
            y = self._checked_labels(y, count)
            sample_weight = self._checked_sample_weight(sample_weight, count)
            if not 0 <= float(validation_split) < 1:
                raise ValueError(f"validation_split: expected a fraction in [0, 1); got {validation_split!r}")
            if validation_split:
                if validation_data is not None:
                    raise ValueError("validation_split: give either validation_split or validation_data")
                cut = int(count * (1.0 - float(validation_split)))
                if cut == 0 or cut == count:
                    raise ValueError(f"validation_split: {validation_split} of {count} images leaves no "
                                     "training or no validation image")
                head = lambda value: value[:cut] if not isinstance(value, dict) else {  # noqa: E731
                    k: v[:cut] for k, v in value.items()}
                tail = lambda value: value[cut:] if not isinstance(value, dict) else {  # noqa: E731
                    k: v[cut:] for k, v in value.items()}
                validation_data = (images[cut:], tail(y)) + (() if sample_weight is None else (
                    tail(sample_weight),))
                images, y = images[:cut], head(y)
                sample_weight = None if sample_weight is None else head(sample_weight)
            x = images
            needs_fresh = self.adversaries and self.adversary_steps and self.adversary_batches == "fresh"
            if needs_fresh:
                if sample_weight is not None:
                    raise ValueError("sample_weight: with adversary_batches='fresh' and arrays, build the "
                                     "dataset yourself (make_training_dataset) or compile with "
                                     "adversary_batches='same'")
                from ..data.pipeline import make_training_dataset  # models -> data, one way
                from ..data.labelled_images import LabelledImages

                labelled = LabelledImages(images=x, labels=y)
                x = make_training_dataset(labelled, batch_size=batch_size or 32,
                                          adversary_steps=self.adversary_steps, flip=False,
                                          shuffle=shuffle)
                y, batch_size = None, None
        if isinstance(x, tf.data.Dataset):
            shuffle = False  # a dataset carries its own shuffling
        return super().fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=shuffle,
                           sample_weight=sample_weight, validation_data=validation_data, **kwargs)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras draws a batch here, under a strategy, to build the model and compiled
        # metrics symbolically; it reduces the distributed batch first, which fails
        # under MultiWorkerMirroredStrategy. This model and its metric trackers are
        # built at construction, so no batch is needed.
        if self._distribute_strategy is None:
            return
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    # ------------------------------------------------------------------ config
    @classmethod
    def from_paper(cls, tasks, input_shape, **architecture):
        """The paper's architecture: a residual encoder and dense heads per task.

        The same as ``Disentangler(tasks, input_shape, **architecture)``; the keyword
        arguments are those of the constructor (``encoder_filters``,
        ``encoder_strides``, ``head_units``, ...).
        """
        return cls(tasks, input_shape, **architecture)

    def get_config(self):
        config = super().get_config()
        serialize = keras.saving.serialize_keras_object
        for key in ("encoders", "classifiers", "adversaries"):
            if self._given[key]:
                config[key] = [serialize(model) for model in getattr(self, key)]
        return {
            **config,
            "tasks": [task.get_config() for task in self.tasks],
            "input_shape": list(self.image_shape),
            "encoder_filters": list(self.encoder_filters),
            "encoder_strides": list(self.encoder_strides),
            "stem_filters": self.stem_filters,
            "activation": self.activation,
            "feature_pooling": self.feature_pooling,
            "head_units": list(self.head_units),
            "l2_weight": self.l2_weight,
            "synchronized_batch_norm": self.synchronized_batch_norm,
            "conditional_adversaries": self.conditional_adversaries,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoders", "classifiers", "adversaries"):
            if config.get(key) is not None:
                config[key] = [keras.saving.deserialize_keras_object(model) for model in config[key]]
        return cls(**config)


if Disentangler.__doc__:  # None under python -OO
    Disentangler.__doc__ = Disentangler.__doc__.replace("{reference}", PAPER_REFERENCE)
