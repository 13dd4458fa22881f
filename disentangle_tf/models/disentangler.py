"""The multi-task disentangling model: construction, forward pass and saved configuration.

Its other jobs live beside it, each a mixin that reads the model's public attributes and
keeps its own state private to its module: ``compile`` (:mod:`.compiling`), the training
and test steps (:mod:`.training_step`), the checked ``fit`` (:mod:`.fit_arguments`) and the
record of the training data's combinations (:mod:`.training_combinations`); the weighting
of examples is a set of functions (:mod:`.example_weights`).
"""

from __future__ import annotations

import itertools
from typing import Sequence

import keras
import tensorflow as tf
from keras import ops

from ..data.labelled_images import MISSING_LABEL
from ..task_spec import TaskSpec
from .compiling import Compiling
from .block_maps import block_taps, global_average, grid_cells
from .defaults import Architecture
from .dense_head import DenseHead
from .fit_arguments import FitArguments
from .gradient_reversal import reverse_gradient
from .given_models import encoder_input_shape, feature_dim, per_task
from .residual_encoder import ResidualEncoder
from .training_combinations import TrainingCombinations
from .training_step import TrainingStep

__all__ = ["MISSING_LABEL", "Disentangler", "TaskSpec", "pair_name"]


def pair_name(features_task: str, label_task: str) -> str:
    """Name of the adversary reading ``features_task`` features to predict ``label_task``."""
    return f"{features_task}_to_{label_task}"


@keras.saving.register_keras_serializable(package="disentangle_tf")
class Disentangler(TrainingCombinations, FitArguments, TrainingStep, Compiling, keras.Model):
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
        **kwargs: ``training_combinations`` (:class:`.TrainingCombinations`), the rest to ``keras.Model``.

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

    Reference: Q. Meng, N. Pawlowski, D. Rueckert, B. Kainz. Representation
        Disentanglement for Multi-task Learning with application to Fetal
        Ultrasound. PIPPI workshop, MICCAI 2019. arXiv:1908.07885.
    """

    def __init__(
        self,
        tasks: Sequence[TaskSpec | dict],
        input_shape: Sequence[int] | None = None,
        encoder_filters: Sequence[int] = Architecture.encoder_filters,
        encoder_strides: Sequence[int] = Architecture.encoder_strides,
        stem_filters: int = Architecture.stem_filters,
        activation: str = Architecture.activation,
        feature_pooling: str = Architecture.feature_pooling,
        head_units: Sequence[int] = Architecture.head_units,
        l2_weight: float = Architecture.l2_weight,
        synchronized_batch_norm: bool = Architecture.synchronized_batch_norm,
        conditional_adversaries: bool = Architecture.conditional_adversaries,
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
        encoders = per_task("encoders", encoders, self.tasks)
        if input_shape is None:
            if encoders is None:
                raise ValueError("input_shape: required when the model builds its own encoders")
            input_shape = encoder_input_shape(encoders[0])
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
        feature_dims = [feature_dim(encoder, self.image_shape, task) for encoder, task in
                        zip(self.encoders, self.tasks)]
        classifiers = per_task("classifiers", classifiers, self.tasks)
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
        self._block_taps = []  # set by compile
        self.built = True

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

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        # The penalty on the residual blocks reads them through taps sharing the encoders' layers.
        self._block_taps = block_taps(self.encoders, self.independence_layers) \
            if self.independence_layers != "features" else []

    compile.__doc__ = Compiling.compile.__doc__

    def _units(self, task: TaskSpec) -> tuple[int, ...]:
        return self.head_units if task.head_units is None else task.head_units

    def call(self, images, training=False, return_features=False):
        features = {t: enc(images, training=training) for t, enc in zip(self.task_names, self.encoders)}
        logits = {
            t: cls(features[t], training=training) for t, cls in zip(self.task_names, self.classifiers)
        }
        if return_features:
            return logits, features
        return logits

    def encode(self, images, training=False, with_blocks=False):
        """Every encoder's features and, ``with_blocks``, its blocks' pooled outputs.

        Args:
            images: ``(N, H, W, C)`` float32 images, as the model is trained on.
            training: batch normalisation in training mode.
            with_blocks: False, ``"blocks"`` (global averages), ``"block_maps"``
                (averages over a grid of cells, :func:`grid_cells`) or
                ``"block_pyramid"`` (both).

        Returns:
            ``(features, blocks)``: per task the features, and per task a list with,
            per residual block, its ``(N, C_b)`` global average and / or its
            ``(N, G_b, C_b)`` grid-cell averages (None without ``with_blocks``).

        Raises:
            ValueError: ``with_blocks`` on a model not compiled with ``independence_layers``
                other than ``"features"`` (which builds the taps on the blocks).
        """
        if not with_blocks:
            return [encoder(images, training=training) for encoder in self.encoders], None
        pools = {"blocks": (global_average,), "block_maps": (grid_cells,),
                 "block_pyramid": (global_average, grid_cells)}[with_blocks]
        if not self._block_taps:
            raise ValueError(f"with_blocks={with_blocks!r}: compile the model with independence_layers="
                             f"{with_blocks!r} first")
        features, blocks = [], []
        for tap in self._block_taps:
            *maps, final = tap(images, training=training)
            features.append(final)
            blocks.append([pool(m) for pool in pools for m in maps])
        return features, blocks

    def forward_pass(self, images, training=False, labels=None, reverse_gradient_scale=None, features=None):
        """Features, task logits and adversary logits, as lists in task / pair order.

        ``images`` are ``(N, H, W, C)`` float32; the result is per task ``(N, D_i)``
        features and ``(N, K_i)`` logits, and per pair of :attr:`adversary_pairs`
        ``(N, K_j)`` logits. ``labels`` (per task, or None) condition conditional adversaries; a missing
        label, or a label of -1, is replaced by the classifier's prediction. With
        ``reverse_gradient_scale`` the adversaries read the features through a gradient
        reversal layer of that scale. ``features`` already computed from ``images`` are
        used as they are.
        """
        if features is None:
            features, _ = self.encode(images, training)
        task_logits = [cls(f, training=training) for cls, f in zip(self.classifiers, features)]
        adversary_features = features
        if reverse_gradient_scale is not None:
            adversary_features = [reverse_gradient(f, reverse_gradient_scale) for f in features]
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
            # None: built by the model from the architecture arguments.
            config[key] = [serialize(model) for model in getattr(self, key)] if self._given[key] else None
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
