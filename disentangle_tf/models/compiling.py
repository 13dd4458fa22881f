"""``Disentangler.compile``: the two optimizers and the settings of the adversarial game.

A mixin of :class:`~disentangle_tf.models.Disentangler`; its compile configuration is
saved with the model (``get_compile_config``) and restored on loading.
"""

from __future__ import annotations

import keras

from ..fast.optimizers import adam, sgd
from . import objectives
from .defaults import (ADVERSARIAL_TRAINING, ADVERSARY_BATCHES, ADVERSARY_LEARNING_RATE, ADVERSARY_MOMENTUM,
                       INDEPENDENCE_LAYERS, LEARNING_RATE)


def default_optimizer(learning_rate: float = LEARNING_RATE):
    """Adam with the authors' betas and epsilon, for encoders and classifiers
    (:func:`disentangle_tf.fast.optimizers.adam`: fused with the fast paths on)."""
    return adam(learning_rate, beta_1=0.0, beta_2=0.9, epsilon=1e-5)


def default_adversary_optimizer(
    learning_rate: float = ADVERSARY_LEARNING_RATE,
    momentum: float = ADVERSARY_MOMENTUM,
):
    """SGD with momentum, for the adversaries
    (:func:`disentangle_tf.fast.optimizers.sgd`: fused with the fast paths on)."""
    return sgd(learning_rate, momentum=momentum)


def _optimizer(value, auto):
    """An optimizer instance: ``"auto"`` calls ``auto``; Keras's names of Adam and SGD
    give Adam and SGD with Keras's defaults, fused with the fast paths on
    (:mod:`disentangle_tf.fast`); anything else as ``keras.optimizers.get``."""
    if isinstance(value, str):
        make = {"auto": auto, "adam": adam, "sgd": sgd}.get(value.lower())
        if make is not None:
            return make()
    return keras.optimizers.get(value)


class Compiling:
    """``compile`` of a :class:`~disentangle_tf.models.Disentangler` and its saved configuration (a mixin)."""

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
        package's recommended setting compiles with ``adversarial_weight=0.0,
        adversary_batches="same", independence_weight=10.0,
        independence_layers="block_maps"`` and adds, outside
        ``compile``, group-balanced batches, recomputed batch-norm statistics and a
        refit of the last layers (``--method recommended``, ``docs/method.rst``).

        Args:
            optimizer: optimizer of encoders and classifiers (Eq. 1): an instance, or a
                name as Keras reads it. ``"auto"`` (the default) is the authors'
                setting, ``FusedAdam(1e-3, beta_1=0.0, beta_2=0.9, epsilon=1e-5)``;
                ``"adam"`` is Keras's Adam with its defaults. Both run as
                :class:`~disentangle_tf.fast.optimizers.FusedAdam` (Keras's Adam in one
                kernel per variable, the same update) unless the fast paths are off
                (:mod:`disentangle_tf.fast`).
            adversary_optimizer: optimizer of the adversaries (Eq. 2). ``"auto"`` is
                ``FusedSGD(1e-2, momentum=0.9)``; ``"sgd"`` is Keras's SGD with its
                defaults (no momentum), run as
                :class:`~disentangle_tf.fast.optimizers.FusedSGD` (fast paths on).
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
                is removed where it enters and not only undone at the end;
                ``"block_maps"``: also every block's output map averaged to a grid of
                up to 2 x 2 cells, each cell of each image a sample (labelled as its
                image), so that the local features, wherever they are, do not carry
                the nuisance within a class; ``"block_pyramid"``: both, the block's
                global average and its grid cells (a two-level spatial pyramid, as in
                He et al., "Spatial pyramid pooling in deep convolutional networks",
                ECCV 2014), so that neither the image-level nor the local features
                carry the nuisance.
            jit_compile: compile the training step with XLA.
            steps_per_execution: training steps run per call of the compiled function.
            run_eagerly: run the steps eagerly (debugging).
            factored_adversary_updates: with ``adversary_batches="same"`` and SGD with
                momentum, update each adversary's first dense kernel in factored form
                (:mod:`~disentangle_tf.fast.factored_adversary_updates`; with the fast paths on): the same
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
        self._block_taps = self._build_block_taps() if independence_layers != "features" else []
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

    def _set_training_defaults(self):
        """The settings of a model not compiled yet: no adversarial game, no penalty."""
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

    def _build_block_taps(self):
        """Per encoder, a model sharing its layers that also returns each block's output."""
        taps = []
        for encoder in self.encoders:
            names = [layer.name for layer in encoder.layers if layer.name.startswith("block")
                     and layer.name.endswith("_add")]
            if not names:
                raise ValueError(
                    f"independence_layers={self.independence_layers!r} reads residual blocks (layers named block<i>_add); "
                    f"encoder {encoder.name!r} has none"
                )
            taps.append(keras.Model(encoder.inputs, [*[encoder.get_layer(n).output for n in names], encoder.output],
                                    name=f"{encoder.name}_taps"))
        return taps
