"""Every configuration key of a run, declared once: the table :data:`OPTIONS` (no TensorFlow here).

Each :class:`Option` row holds a key's section, type, default, help text, allowed values and
command-line details. Everything else is generated from the table: the fields, defaults and
documentation of :class:`~disentangle_tf.run.config.DataConfig` and
:class:`~disentangle_tf.run.config.TrainConfig` (those of
:class:`~disentangle_tf.run.config.ModelConfig` are the model's
:class:`~disentangle_tf.models.defaults.Architecture`, whose defaults the model rows read),
:data:`~disentangle_tf.run.config.CHOICES`, the checks of each value by itself
(:func:`~disentangle_tf.run.config_checks.check_configuration`), the commands' options and
what ``--help`` shows, the hyper-parameters of TensorBoard's HParams page
(:meth:`~disentangle_tf.run.config.RunConfig.hyperparameters`) and the documentation's table of
options. A new key needs one row here (and, for a model key, its field in ``Architecture``).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Callable

from .config_values import memory_budget_bytes
from .distribution import STRATEGIES
from ..data.arguments import DEFAULT_IMAGE_SIZE, MIXUP_PARTNERS, SAMPLING
from ..data.manifest_options import MISSING_LABELS
from ..data.us_sim.shadows import MAX_SHADOW_SALIENCE
from ..fast.threads import THREADS
from ..models.defaults import (ADVERSARIAL_OBJECTIVES, ADVERSARIAL_TRAINING, ADVERSARY_BATCHES, ADVERSARY_LEARNING_RATE,
                               ADVERSARY_MOMENTUM, BANDWIDTHS, FEATURE_POOLING, INDEPENDENCE_LAYERS,
                               INDEPENDENCE_PENALTIES, LEARNING_RATE, Architecture)
from ..models.penalties import check_penalty_name, get_penalty

#: The sections of a configuration, in the order of a ``config.json``.
SECTION_NAMES = ("data", "model", "training")

#: :attr:`Option.datasets` of the keys that only a manifest reads, and of those an HDF5 file also reads.
CSV = ("csv",)
FILES = ("csv", "hdf5")

class _FromTheStart:
    def __repr__(self) -> str:
        return "FROM_THE_START"


#: :attr:`Option.earlier` of a key the configuration had before any run was recorded.
FROM_THE_START = _FromTheStart()

#: Where a key has a named option: ``"manifest"`` the train, convert and reproduce commands
#: (the options that read a manifest), ``"data"`` the train and convert commands, ``"train"``
#: the train command; ``""`` none (``--set KEY=VALUE`` and ``--config`` files only).
COMMAND_GROUPS = ("manifest", "data", "train", "")


@dataclasses.dataclass(frozen=True)
class Option:
    """One configuration key.

    Attributes:
        key: its name in configuration files and ``config.json`` (``batch_size``).
        section: ``"data"``, ``"model"`` or ``"training"`` (:data:`SECTION_NAMES`).
        type: its type: ``bool``, ``int``, ``float``, ``str``, ``tuple[int, int]`` (a list of
            two), ``tuple[int, ...]`` or ``tuple[str, ...]`` (lists; a repeatable option).
        default: its value when nothing sets it.
        help: what it does, in one text: the option's ``--help``, the configuration
            classes' documentation and the table of options (plain text).
        choices: its allowed values, if a fixed set.
        minimum, maximum: its range, if any (of each item of a list); the bounds are
            allowed unless ``open_minimum`` or ``open_maximum``.
        check: a further check of the value alone, raising ``ValueError`` whose message
            names the key and what it expects; its docstring says what it allows (the
            documentation's table).
        command: where it has a named option (:data:`COMMAND_GROUPS`).
        shown: listed by the train command's ``--help`` (``--help-all`` lists every option).
        hyperparameter: it changes what is learned: written to TensorBoard's HParams page.
        method_decides: the named methods set it (``--method``): ``--help`` gives its value
            under the default method and under ``--method paper``.
        flag: its option when not ``--`` and the key with dashes (``--task`` for ``tasks``).
        metavar: what ``--help`` calls its value.
        path: ``"file"`` or ``"directory"``: the option names one.
        default_text: ``--help``'s and the table's default where the value alone does not say it.
        see: a reference for the documentation (reST), where it says more.
        datasets: the data sets that read it (``("csv",)``); empty: every one. A value given
            for it with another data set is refused
            (:func:`~disentangle_tf.run.config_checks.check_configuration`).
        earlier: for a key added after runs were recorded, the value those runs had
            before it existed (a saved ``config.json`` without the key is read with it,
            :data:`~disentangle_tf.run.config.KEYS_ADDED_LATER`); :data:`FROM_THE_START` else.
    """

    key: str
    section: str
    type: Any
    default: Any
    help: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    open_minimum: bool = False
    open_maximum: bool = False
    check: Callable[[Any], None] | None = None
    command: str = ""
    shown: bool = False
    hyperparameter: bool = False
    method_decides: bool = False
    flag: str = ""
    metavar: str | None = None
    path: str = ""
    default_text: str = ""
    see: str = ""
    datasets: tuple[str, ...] = ()
    earlier: Any = FROM_THE_START

    @property
    def option(self) -> str:
        """Its command-line option (``--batch-size``; ``--task`` for ``tasks``)."""
        return self.flag or "--" + self.key.replace("_", "-")

    @property
    def is_list(self) -> bool:
        """Whether its value is a list (``image_size``, ``tasks``)."""
        return typing.get_origin(self.type) is tuple

    @property
    def repeatable(self) -> bool:
        """Whether its option is given once per item (a list of any length)."""
        return self.is_list and typing.get_args(self.type)[-1] is Ellipsis

    def choice_error(self, value) -> str | None:
        """What is wrong with ``value`` if it is not one of the choices, or None."""
        if self.choices and value not in self.choices:
            return f"{self.key} must be one of {', '.join(map(str, self.choices))}; got {value!r}"
        return None

    def check_error(self, value) -> str | None:
        """The message of the further check (``check``) that ``value`` fails, or None."""
        if self.check is None:
            return None
        try:
            self.check(value)
        except ValueError as failure:
            return str(failure)
        return None

    def range_error(self, value) -> str | None:
        """What is wrong with ``value``'s range (``"epochs must be >= 1; got 0"``), or None."""
        if self.minimum is None and self.maximum is None:
            return None
        items = value if self.is_list else [value]
        low, high = self.minimum, self.maximum
        if all((low is None or (item > low if self.open_minimum else item >= low))
               and (high is None or (item < high if self.open_maximum else item <= high)) for item in items):
            return None
        return f"{self.key} must be {'integers ' if self.is_list else ''}{self.range_text()}; got {value}"

    def range_text(self) -> str:
        """Its range in words: ``>= 1``, ``> 0``, ``in [0, 1)``; empty for none."""
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return f"in {'(' if self.open_minimum else '['}{low:g}, {high:g}{')' if self.open_maximum else ']'}"
        if low is not None:
            return f"{'>' if self.open_minimum else '>='} {low:g}"
        if high is not None:
            return f"{'<' if self.open_maximum else '<='} {high:g}"
        return ""


def _image_size(value) -> None:
    """two integers, each >= 16"""
    if len(value) != 2 or min(value) < 16:
        raise ValueError(f"image_size must be two integers HEIGHT WIDTH, each >= 16; got {value}")


def _distinct(value) -> None:
    """distinct values"""
    repeated = sorted({item for item in value if list(value).count(item) > 1})
    if repeated:
        raise ValueError(f"test_split names {repeated[0]!r} twice; expected distinct values")


def _some_blocks(value) -> None:
    """at least one block"""
    if not value:
        raise ValueError("encoder_filters must list at least one residual block; got []")


def _memory_budget(value) -> None:
    """auto, unlimited or a size: 8GiB, 500MB, a number of bytes"""
    memory_budget_bytes(value)


def _penalty(value) -> None:
    """hsic, coral or an import path package.module:function"""
    check_penalty_name(value)
    if value not in INDEPENDENCE_PENALTIES:
        get_penalty(value)  # an import path is resolved now, before any data is read


_ARCHITECTURE = Architecture()
_ARCHITECTURE_TYPES = typing.get_type_hints(Architecture)


def _model(key: str, help: str, **details) -> Option:
    """A model key: its type and default are those of :class:`Architecture`, which the model uses."""
    return Option(key, "model", _ARCHITECTURE_TYPES[key], getattr(_ARCHITECTURE, key), help, **details)


#: Every configuration key, in the order of a ``config.json``: data, model, then training keys
#: (the model's in the order of :class:`~disentangle_tf.models.defaults.Architecture`).
OPTIONS: tuple[Option, ...] = (
    # -- data --
    Option("dataset", "data", str, "synthetic",
           "Data set: synthetic shapes (the paper's), simulated fetal ultrasound, handwritten digits 0-4 with a "
           "shadow or a photograph behind them, a CSV manifest of image files or an HDF5 file.",
           choices=("synthetic", "us-sim", "digits-shadow", "digits-texture", "csv", "hdf5"), command="data",
           shown=True, hyperparameter=True, see=":mod:`disentangle_tf.data`"),
    Option("image_size", "data", tuple[int, int], DEFAULT_IMAGE_SIZE,
           "Image height and width: the model's input (convert: the stored images'); the default is a quarter "
           "of the paper's 224 x 288 on each side.", check=_image_size, command="data", shown=True,
           hyperparameter=True, metavar="H W", see=":ref:`changed-defaults`"),
    Option("batch_size", "data", int, 50, "Images per main step (the paper: 50).", minimum=1, command="train",
           shown=True, hyperparameter=True),
    Option("flip", "data", bool, True, "Random left-right flips of training images (the paper: on).",
           command="train", hyperparameter=True),
    Option("sampling", "data", str, "group_balanced",
           "Training batches: every image once per epoch (uniform, the paper), or every combination of task "
           "labels equally often (group_balanced).", choices=SAMPLING, command="train", hyperparameter=True,
           method_decides=True, see=":func:`~disentangle_tf.data.pipeline.make_training_dataset`"),
    Option("mixup", "data", float, 0.0, "Mixup of every training batch (Zhang et al., ICLR 2018): each image "
           "blended with a partner, each task's loss shared between their labels; the alpha of the mixing "
           "weight's Beta distribution (0: off).", minimum=0, hyperparameter=True, method_decides=True,
           earlier=0.0, see=":mod:`disentangle_tf.data.mixing`"),
    Option("mixup_partners", "data", str, "any", "Mixup's partners: any image of the batch, or one whose "
           "label differs in every task (other_combination).", choices=MIXUP_PARTNERS, hyperparameter=True,
           method_decides=True, earlier="any", see=":mod:`disentangle_tf.data.mixing`"),
    Option("seed", "data", int, 0, "Seed of the generated data sets and the validation carve-out; in training "
           "also of initialisation, shuffling and flips.", command="data", shown=True, hyperparameter=True),
    Option("data", "data", str, "", "The manifest (csv) or HDF5 file (hdf5).", command="manifest", shown=True,
           path="file", datasets=FILES),
    Option("image_root", "data", str, "", "Directory of the manifest's image paths.", command="manifest",
           path="directory", default_text="the manifest's directory; Images for fetal_planes_db", datasets=CSV),
    Option("layout", "data", str, "generic", "Manifest layout: generic, or fetal_planes_db, which reads "
           "FETAL_PLANES_DB_data.csv as released.", choices=("generic", "fetal_planes_db"), command="manifest",
           shown=True, datasets=CSV),
    Option("tasks", "data", tuple[str, ...], (),
           "A manifest column that is a task (repeat for several tasks); NAME=COLUMN names the task of a column "
           "whose name is not one (letters, digits, underscores).", command="manifest", shown=True, flag="--task",
           default_text="none; plane for fetal_planes_db", datasets=CSV),
    Option("path_column", "data", str, "path", "Manifest column of image paths.", command="manifest", datasets=CSV),
    Option("split_column", "data", str, "split", "Manifest column of splits.", command="manifest", datasets=CSV),
    Option("train_split", "data", str, "train", "Split value of training rows.", command="manifest", datasets=CSV),
    Option("val_split", "data", str, "val", "Split value of validation rows (empty: hold out "
           "--validation-fraction of the training rows instead).", command="manifest", datasets=CSV),
    Option("test_split", "data", tuple[str, ...], ("test",),
           "Split value of evaluation rows, evaluated and reported under its own name (repeat for several; a "
           "config file may give one string).", check=_distinct, command="manifest", shown=True,
           datasets=CSV),
    Option("validation_fraction", "data", float, 0.0, "Hold out this fraction of training rows for validation "
           "when the manifest has no validation split.", minimum=0, maximum=1, open_maximum=True,
           command="manifest", datasets=CSV),
    Option("group_column", "data", str, "", "Manifest column naming each image's group (patient): held-out "
           "validation takes whole groups.", command="manifest",
           default_text="none; Patient_num for fetal_planes_db", datasets=CSV, earlier=""),
    Option("missing_labels", "data", str, "refuse", "A label cell that is empty or NA: refuse it, or allow it "
           "(the image has no label for that task).", choices=MISSING_LABELS, command="manifest",
           see=":class:`~disentangle_tf.data.manifest.ManifestOptions`", datasets=CSV, earlier="refuse"),
    Option("separator", "data", str, ",", "Manifest field separator.", command="manifest", datasets=CSV),
    Option("extension", "data", str, "", "Appended to image paths that lack it, e.g. .png.", command="manifest",
           datasets=CSV),
    Option("channels", "data", int, 1, "1 (greyscale, the paper) or 3: a manifest's images are converted to it, "
           "an HDF5 file's must have it.", choices=(1, 3), command="manifest", datasets=FILES),
    Option("scale", "data", float, 0.5, "Size of us-sim relative to the paper's Table 1.", minimum=0, maximum=1,
           open_minimum=True, command="data", hyperparameter=True, datasets=("us-sim",)),
    Option("shadow_salience", "data", float, 1.0,
           "How conspicuous the simulated ultrasound's labelled acoustic shadows are: 1 is the calibrated "
           "simulator; higher values make them deeper and wider, a stronger shortcut for the plane (us-sim only).",
           minimum=0, maximum=MAX_SHADOW_SALIENCE, open_minimum=True,
           hyperparameter=True, datasets=("us-sim",), earlier=1.0, see=":mod:`disentangle_tf.data.us_sim.shadows`"),
    Option("memory_budget", "data", str, "auto",
           "Decoded images a manifest or HDF5 file may hold in memory (8GiB, 500MB, a number of bytes; "
           "unlimited); the largest splits that do not fit are streamed from their files, with the same batches.",
           check=_memory_budget, command="manifest", metavar="SIZE", default_text="auto, half the memory",
           see=":mod:`disentangle_tf.data.streaming`", datasets=FILES, earlier="unlimited"),
    # -- model: types and defaults are the model's Architecture --
    _model("encoder_filters", "Filters of each residual block (the paper: six blocks).", minimum=1,
           check=_some_blocks, hyperparameter=True),
    _model("encoder_strides", "Stride of each residual block.", minimum=1, hyperparameter=True),
    _model("stem_filters", "Filters of the initial 3x3 convolution (the authors' code: 8).", minimum=1,
           hyperparameter=True),
    _model("activation", "Activation inside the residual blocks.", hyperparameter=True),
    _model("feature_pooling", "How the last feature map becomes the features: global average pooling, or "
           "flatten (the authors' code).", choices=FEATURE_POOLING, command="train", hyperparameter=True),
    _model("head_units", "Hidden units of a classifier or adversary head layer (repeat for more layers).",
           minimum=1, command="train", hyperparameter=True),
    _model("l2_weight", "L2 penalty on every convolution and dense kernel.", minimum=0, hyperparameter=True),
    _model("synchronized_batch_norm", "Batch statistics over all replicas' batches (turned on by the training "
           "run whenever there is more than one replica)."),
    _model("conditional_adversaries", "Adversaries also read the one-hot label of the features' own task.",
           command="train", hyperparameter=True, method_decides=True),
    # -- training --
    Option("epochs", "training", int, 15, "Passes over the training split.", minimum=1, command="train",
           shown=True, hyperparameter=True),
    Option("learning_rate", "training", float, LEARNING_RATE, "Adam learning rate of encoders and classifiers.",
           minimum=0, open_minimum=True, command="train", hyperparameter=True),
    Option("adversary_learning_rate", "training", float, ADVERSARY_LEARNING_RATE,
           "SGD learning rate of the adversaries.", minimum=0, open_minimum=True, command="train",
           hyperparameter=True),
    Option("adversary_momentum", "training", float, ADVERSARY_MOMENTUM, "SGD momentum of the adversaries.",
           minimum=0, maximum=1, open_maximum=True, hyperparameter=True),
    Option("adversarial_weight", "training", float, 0.0, "lambda of Eq. 1.", minimum=0, command="train",
           shown=True, hyperparameter=True, method_decides=True),
    Option("adversary_steps", "training", int, 5, "Adversary updates per main update.", minimum=0,
           command="train", hyperparameter=True, method_decides=True),
    Option("adversary_batches", "training", str, "same", "Fresh batches for each adversary step (the authors' "
           "code), or reuse the main batch.", choices=ADVERSARY_BATCHES, command="train", hyperparameter=True,
           method_decides=True),
    Option("adversarial_objective", "training", str, "maximize_cross_entropy", "What the encoders do to the "
           "adversaries: maximise their cross-entropy (the paper), or push their predictions towards uniform.",
           choices=ADVERSARIAL_OBJECTIVES, command="train", hyperparameter=True, method_decides=True),
    Option("independence_weight", "training", float, 10.0, "Weight of the class-conditional HSIC penalty between "
           "each task's features and the other tasks' labels (0: off, the paper).", minimum=0, command="train",
           shown=True, hyperparameter=True, method_decides=True),
    Option("independence_bandwidth", "training", str, "class", "Median bandwidth of the penalty's kernel, within "
           "each class or over the batch.", choices=BANDWIDTHS, command="train", hyperparameter=True),
    Option("independence_penalty", "training", str, "hsic", "The independence penalty: hsic (class-conditional "
           "HSIC), coral (class-conditional CORAL) or the import path package.module:function of one's own.",
           check=_penalty, hyperparameter=True, earlier="hsic", see=":mod:`disentangle_tf.models.penalties`"),
    Option("group_dro_step_size", "training", float, 0.0, "Group DRO's step size (Sagawa et al., ICLR 2020): "
           "each combination of labels' task losses weighted online towards the worst (0: off).", minimum=0,
           hyperparameter=True, earlier=0.0),
    Option("adversarial_training", "training", str, "alternating", "Alternating updates (the paper) or a "
           "gradient reversal layer.", choices=ADVERSARIAL_TRAINING, command="train", hyperparameter=True,
           method_decides=True),
    Option("independence_layers", "training", str, "block_maps", "The independence penalty reads the encoders' "
           "features, also every residual block's averaged output (blocks), also every block's output map on a "
           "2 x 2 grid of cells (block_maps), or both (block_pyramid).", choices=INDEPENDENCE_LAYERS,
           command="train", shown=True, hyperparameter=True, method_decides=True, earlier="features"),
    Option("penalty_schedule", "training", str, "constant", "Warm-up of lambda and the independence weight "
           "(dann: 2/(1+exp(-10p))-1 over the training progress p).", choices=("constant", "dann"),
           command="train", hyperparameter=True, method_decides=True),
    Option("restore_best_weights", "training", bool, False, "Keep the epoch with the best mean validation "
           "accuracy of the tasks instead of the last.", command="train", hyperparameter=True,
           method_decides=True, earlier=False),
    Option("precise_batch_norm", "training", int, 30, "After training, recompute the batch-norm statistics over "
           "this many training batches with the final weights (0: off).", minimum=0, command="train",
           hyperparameter=True, method_decides=True, metavar="BATCHES",
           see=":func:`~disentangle_tf.models.precise_batch_norm.precise_batch_norm`", earlier=0),
    Option("last_layer_retraining", "training", bool, True, "After training, refit each classifier's last layer "
           "on the frozen features of the training split (class-balanced logistic regression).", command="train",
           hyperparameter=True, method_decides=True,
           see=":func:`~disentangle_tf.models.last_layer.retrain_last_layer`", earlier=False),
    Option("ensemble_size", "training", int, 1, "Train this many models from different seeds on the same data "
           "and average their probabilities (a deep ensemble; each model costs a whole run).", minimum=1,
           command="train", hyperparameter=True, method_decides=True, metavar="MODELS",
           see=":mod:`disentangle_tf.run.ensemble`", earlier=1),
    Option("ensemble_member", "training", int, 0, "Which member of an ensemble this run trains (from 0): member k "
           "initialises, orders batches and flips with seed + 100 k, its data are those of seed; set by the "
           "ensemble's run.", minimum=0,
           hyperparameter=True, earlier=0),
    Option("error_upweight", "training", int, 0, "Just Train Twice (Liu et al., ICML 2021): k >= 2 first trains "
           "an identification model (a fifth of the epochs) and repeats each training image it gets wrong k "
           "times in all (0 or 1: off).", minimum=0, hyperparameter=True, earlier=0,
           see=":mod:`disentangle_tf.run.jtt`"),
    Option("jit_compile", "training", bool, False, "Compile the training step with XLA.", command="train"),
    Option("saved_model", "training", bool, True, "At the end, export saved_model/, the SavedModel that serving "
           "and the predict command read (off: model.keras alone, as for a sweep that keeps the results).",
           earlier=True, see=":func:`~disentangle_tf.export.export_saved_model`"),
    Option("figures", "training", bool, True, "At the end, draw figures/: each scored split's confusion matrix "
           "and reliability diagram per task (off: none).", earlier=True,
           see=":func:`~disentangle_tf.evaluation.evaluate.write_evaluation`"),
    Option("strategy", "training", str, "one-device", "tf.distribute strategy: one-device, mirrored (all local "
           "GPUs, or every logical CPU without one) or multi-worker (reads TF_CONFIG).", choices=STRATEGIES,
           command="train", shown=True),
    Option("deterministic", "training", bool, False, "Deterministic ops: a resumed run ends as an uninterrupted "
           "one.", command="train", shown=True),
    Option("threads", "training", str, "auto", "CPU thread pools: auto splits the cores between the tasks' "
           "encoders (no GPU); tensorflow keeps TensorFlow's defaults.", choices=THREADS, command="train",
           see=":func:`~disentangle_tf.fast.threads.configure_threads`"),
)


def find_option(key: str) -> Option | None:
    """The row of configuration key ``key``, or None."""
    return next((option for option in OPTIONS if option.key == key), None)


def option_name(key: str) -> str:
    """The command-line option of configuration key ``key`` (``batch_size``: ``--batch-size``)."""
    option = find_option(key)
    return option.option if option is not None else "--" + key.replace("_", "-")


def keys_of(*, section: str | None = None, command: str | None = None) -> tuple[str, ...]:
    """The keys of one section and/or with options in one command group, in the table's order."""
    return tuple(option.key for option in OPTIONS
                 if section in (None, option.section) and command in (None, option.command))
