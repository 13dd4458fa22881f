"""``Disentangler.compile``: the two optimizers and the settings of the adversarial game.

A mixin of :class:`~disentangle_tf.models.Disentangler`; its compile configuration, the
method it was compiled with included, is saved with the model (``get_compile_config``)
and restored on loading.
"""

from __future__ import annotations

import json

import keras
import numpy as np

from ..fast.optimizers import adam, sgd
from . import objectives
from .penalties import get_penalty
from .defaults import (ADVERSARIAL_TRAINING, ADVERSARY_BATCHES, ADVERSARY_LEARNING_RATE, ADVERSARY_MOMENTUM,
                       INDEPENDENCE_LAYERS, LEARNING_RATE)
from .methods import COMPILE_KEYS, FIT_KEYS, METHODS, NEUTRAL, PAPER_COMPILE, Method, model_settings


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
    """``compile`` of a :class:`~disentangle_tf.models.Disentangler` and its saved configuration (a mixin).

    Before ``compile`` the model's settings are those of no adversarial game and no penalty.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._set_training_defaults()

    def compile(
        self,
        optimizer="auto",
        adversary_optimizer="auto",
        adversarial_weight: float | None = None,
        adversary_steps: int | None = None,
        adversary_batches: str | None = None,
        adversarial_objective: str | None = None,
        independence_weight: float | None = None,
        independence_bandwidth: str | None = None,
        adversarial_training: str | None = None,
        independence_layers: str | None = None,
        jit_compile: bool = False,
        steps_per_execution: int = 1,
        run_eagerly: bool = False,
        factored_adversary_updates: bool = True,
        method: str | Method | None = None,
        sampling: str | None = None,
        mixup: float | None = None,
        mixup_partners: str | None = None,
        precise_batch_norm: int | None = None,
        last_layer_retraining: bool | None = None,
        independence_penalty: str | None = None,
        group_dro_step_size: float | None = None,
    ):
        """Configure the two optimizers and the adversarial game, or a named method.

        Without ``method`` the settings are the paper's method (Sect. 2 and the authors'
        code), each argument left out at the value listed below. The package's
        recommended setting is one word away, ``compile(method="recommended")``: no
        adversarial term, the class-conditional HSIC penalty on every residual block's
        output map, and, in ``fit`` from arrays, group-balanced batches, batch-norm
        statistics recomputed and the last layers refitted after the last epoch
        (``docs/method.rst``); ``compile(method="paper")`` is the paper's method, the
        same as ``compile()``.

        Args:
            method: a name of :data:`disentangle_tf.models.methods.METHODS`
                (``"recommended"``, ``"paper"``, ``"lambda=0"``, ...) or a
                :class:`~disentangle_tf.models.methods.Method`; None (the default) for
                none. Its settings give the arguments ``adversarial_weight`` to
                ``independence_layers`` and ``sampling`` to ``last_layer_retraining``
                below; those given explicitly replace them
                (``compile(method="recommended", independence_weight=5)``) and choose
                the point of a grid method (``compile(method="paper grid",
                adversarial_weight=0.1)``). ``fit`` carries out the batch composition
                and the steps after training when it is given arrays;
                ``compiled_method`` and the
                compile configuration record the method's name, description, settings
                and the arguments that replaced them. Methods that need a whole run (an
                ensemble, Just Train Twice, a penalty schedule, a number of epochs, the
                oracle) are refused: :func:`disentangle_tf.run.training.run` trains them.
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
            adversarial_weight: lambda of Eq. 1 (default 0.01); 0 trains the tasks
                independently of the adversaries (which are still trained, as probes).
            adversary_steps: adversary updates after each main update (default and
                paper: 5).
            adversary_batches: ``"fresh"`` (the default): each adversary step sees a
                new batch (the authors' code); the data must then come from
                :func:`disentangle_tf.data.make_training_dataset` (``fit`` builds it
                itself from arrays). Before each adversary update the encoders run on
                its batch in training mode and without a gradient tape, which also
                updates their batch-norm moving statistics. ``"same"``:
                the adversary steps reuse the features of the main batch (cheaper).
            adversarial_objective: ``"maximize_cross_entropy"`` (paper; the default) or
                ``"uniform"``; see :mod:`disentangle_tf.models.objectives`.
            independence_weight: weight of the class-conditional HSIC penalty between
                each task's features and every other task's label, given the
                features' own label; 0 (the paper; the default) leaves it out. The metric
                ``independence_loss`` is tracked when it is on.
            independence_penalty: the independence penalty: ``"hsic"`` (the
                class-conditional HSIC; the default), ``"coral"`` (class-conditional
                CORAL, :func:`~disentangle_tf.models.coral.conditional_coral`), or the
                import path ``"package.module:function"`` of one's own
                (:mod:`disentangle_tf.models.penalties`).
            group_dro_step_size: Group DRO's step size ``eta`` (Sagawa et al.,
                "Distributionally robust neural networks for group shifts", ICLR
                2020): the task losses of each combination of labels (a *group*) are
                weighted by ``q_g``, and every training step first multiplies ``q_g``
                by ``exp(eta * L_g)``, ``L_g`` the group's mean loss in the batch, and
                renormalises (:attr:`group_weights`); 0 (the default) leaves it out.
            independence_bandwidth: the Gaussian kernel's median-heuristic domain,
                ``"class"`` (within each class; the default) or ``"batch"``; see
                :func:`~disentangle_tf.models.objectives.conditional_hsic`.
            adversarial_training: ``"alternating"`` (the paper; the default): Eq. 1 moves the
                encoders against the adversaries as they are, then Eq. 2 moves the
                adversaries. ``"gradient_reversal"`` (Ganin & Lempitsky,
                "Unsupervised domain adaptation by backpropagation", ICML 2015): one
                backward pass moves both, the adversaries' gradient reaching the
                encoders multiplied by ``-lambda``; the adversaries are then updated
                ``adversary_steps`` more times as in Eq. 2 (0 is the plain DANN step).
                Needs ``adversarial_objective="maximize_cross_entropy"``.
            independence_layers: ``"features"`` (the default): the independence penalty reads each
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
            sampling: with a method, how ``fit`` draws batches from arrays:
                ``"uniform"`` or ``"group_balanced"``
                (:func:`~disentangle_tf.data.make_training_dataset`).
            mixup: with a method, the alpha of mixup on the batches ``fit`` draws from
                arrays (0: none; :mod:`~disentangle_tf.data.mixing`).
            mixup_partners: with a method, how mixup draws partners: ``"any"`` or
                ``"other_combination"``.
            precise_batch_norm: with a method, after training, the number of batches
                the batch-norm statistics are recomputed over (0: none;
                :class:`~disentangle_tf.models.post_fit.PreciseBatchNormalization`).
            last_layer_retraining: with a method, after training, refit every
                classifier's last layer
                (:class:`~disentangle_tf.models.post_fit.LastLayerRetraining`).

        Raises:
            ValueError: one line naming the argument, for a value out of its choices or
                range, ``sampling``, ``mixup``, ``mixup_partners``, ``precise_batch_norm`` or
                ``last_layer_retraining`` without a method, an unknown method (naming the methods a model can take), a method
                that needs a whole run, a grid method whose point is left open, or a
                method whose ``conditional_adversaries`` is not the model's.
            TypeError: for a ``method`` that is neither a name nor a ``Method``.
        """
        arguments = locals()
        given = {key: arguments[key] for key in (*COMPILE_KEYS, *FIT_KEYS) if arguments[key] is not None}
        if method is None:
            after = [key for key in FIT_KEYS if key in given]
            if after:
                raise ValueError(f"{', '.join(after)}: a method's setting; compile(method='paper', "
                                 f"{after[0]}=...) gives the paper's method with it")
            settings, record = {**NEUTRAL, **PAPER_COMPILE, **given}, None
        else:
            settings = model_settings(method, given, self.conditional_adversaries)
            named = METHODS[method] if isinstance(method, str) else method
            record = {"name": named.name, "description": named.description, "settings": settings,
                      "overrides": {key: settings[key] for key in given}}
        adversarial_weight, adversary_steps = settings["adversarial_weight"], settings["adversary_steps"]
        adversary_batches, adversarial_objective = settings["adversary_batches"], settings["adversarial_objective"]
        independence_weight, independence_bandwidth = settings["independence_weight"], settings["independence_bandwidth"]
        adversarial_training, independence_layers = settings["adversarial_training"], settings["independence_layers"]
        independence_penalty = settings["independence_penalty"]
        group_dro_step_size = settings["group_dro_step_size"]
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
        get_penalty(independence_penalty, independence_bandwidth)
        if not float(group_dro_step_size) >= 0:
            raise ValueError(f"group_dro_step_size must be >= 0; got {group_dro_step_size}")
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
            "independence_penalty": independence_penalty,
            "group_dro_step_size": float(group_dro_step_size),
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
        self.independence_penalty = independence_penalty
        self.group_dro_step_size = float(group_dro_step_size)
        if self.group_dro_step_size > 0 and self.group_weights is None:
            groups = int(np.prod([task.num_classes for task in self.tasks]))
            self.group_weights = self.add_weight(shape=(groups,), initializer=keras.initializers.Constant(1.0 / groups),
                                                 trainable=False, name="group_weights",
                                                 aggregation="mean")
        self.factored_adversary_updates = bool(factored_adversary_updates)
        self._method_record = None if record is None else json.dumps(record)
        self.sampling = settings["sampling"]
        self.mixup, self.mixup_partners = float(settings["mixup"]), settings["mixup_partners"]
        self.precise_batch_norm_batches = int(settings["precise_batch_norm"])
        self.last_layer_retraining = bool(settings["last_layer_retraining"])
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
        if self.compiled_method is not None:
            config["method"] = self.compiled_method
        return config

    def compile_from_config(self, config):
        config = dict(config)
        for key in ("optimizer", "adversary_optimizer"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        record = config.pop("method", None)
        if record is not None:
            # The method's settings (its overrides applied) and the overrides themselves:
            # the same compile, and the same record of it.
            for key in COMPILE_KEYS:
                config.pop(key, None)
            config.update(record.get("overrides", {}))
            config["method"] = Method(record["name"], dict(record["settings"]), record.get("description", ""))
        self.compile(**config)

    @property
    def compiled_method(self) -> dict | None:
        """The method the model was compiled with, or None (compiled without one, or not compiled).

        A dict (a copy): ``name``, ``description``, ``settings`` (per key of
        :data:`~disentangle_tf.models.methods.MODEL_KEYS`, the value the model uses, the
        explicit arguments applied) and ``overrides`` (the arguments of ``compile`` that
        replaced the method's values). Saved in ``model.keras`` with the compile
        configuration.
        """
        record = getattr(self, "_method_record", None)
        return None if record is None else json.loads(record)

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
        self.independence_penalty = "hsic"
        self.group_dro_step_size = 0.0
        #: Group DRO's weight of every combination of labels, float32 ``(prod of the tasks'
        #: numbers of classes,)`` in row-major order of the task labels, summing to 1; None
        #: until a compile with ``group_dro_step_size > 0`` creates it.
        self.group_weights = None
        self.factored_adversary_updates = True
        self.adversary_optimizer = None
        self._method_record = None
        self.sampling = NEUTRAL["sampling"]
        self.mixup, self.mixup_partners = NEUTRAL["mixup"], NEUTRAL["mixup_partners"]
        self.precise_batch_norm_batches = 0
        self.last_layer_retraining = False
