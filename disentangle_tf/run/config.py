"""Run configuration: typed dataclasses and the one place where defaults live.

A run is described by a :class:`RunConfig` made of three sections, each a dataclass:
:class:`DataConfig`, :class:`ModelConfig` and :class:`TrainConfig`. Field names are
unique across sections, so a configuration file is a flat mapping whose keys mirror the
command-line options (``batch_size`` for ``--batch-size``)::

    epochs: 30
    image_size: [56, 72]
    adversarial_weight: 0.01

Unknown keys and values of the wrong type raise :class:`ConfigError` with a message that
names the key and what was expected.

Defaults follow the paper (Meng et al., 2019) and the authors' code where those are
known; the learning rates are raised from the authors' 1e-5 so that a run of a few
minutes on a CPU converges (see ``docs/method.rst``).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any, Mapping

import yaml

from .config_checks import COMMAND_LINE, CROSS_KEY_CHECKS, check_configuration, option_name
from .config_values import coerce, memory_budget_bytes  # noqa: F401  (imported from here too)
from ..data.arguments import DEFAULT_IMAGE_SIZE, SAMPLING
from ..data.manifest_options import MISSING_LABELS
from .distribution import STRATEGIES
from ..errors import ConfigError
from ..fast.threads import THREADS
from ..models.defaults import (ADVERSARIAL_OBJECTIVES, ADVERSARIAL_TRAINING, ADVERSARY_BATCHES, ADVERSARY_LEARNING_RATE,
                              ADVERSARY_MOMENTUM, BANDWIDTHS, FEATURE_POOLING, INDEPENDENCE_LAYERS, LEARNING_RATE,
                              Architecture)


@dataclasses.dataclass
class DataConfig:
    """Which data set to use and how to feed it.

    Args:
        dataset: ``"synthetic"`` (the paper's shapes), ``"us-sim"`` (simulated
            fetal ultrasound), ``"digits-shadow"`` or ``"digits-texture"`` (real
            handwritten digits 0-4 with a dark band or a photograph behind them;
            :mod:`disentangle_tf.data.digits`), ``"csv"`` (a manifest of image files)
            or ``"hdf5"``.
        image_size: ``(height, width)`` the model sees (default 56 x 72, a quarter
            of the paper's 224 x 288 on each side; see ``docs/method.rst``).
        batch_size: images per main training step (paper: 50).
        flip: random left-right flips of training images (paper: yes).
        sampling: ``"group_balanced"`` (every combination of task labels equally
            often, the recommended setting;
            :func:`~disentangle_tf.data.pipeline.make_training_dataset`) or
            ``"uniform"`` (every image once per epoch, the paper).
        seed: seed of data generation, shuffling, flips and weight initialisation.
        data: the manifest (``csv``) or HDF5 file (``hdf5``).
        image_root: directory of the manifest's image paths (default: the
            manifest's directory; ``Images`` for the FETAL_PLANES_DB layout).
        layout: ``"generic"`` manifest, or ``"fetal_planes_db"`` (the public
            FETAL_PLANES_DB release as it is).
        tasks: manifest columns that are tasks (``generic``), or FETAL_PLANES_DB
            tasks (default: ``plane``); ``NAME=COLUMN`` names the task of a column whose
            own name is not a task name (``plane=Plane type``).
        path_column: manifest column of image paths.
        split_column: manifest column of split names.
        train_split: value of ``split_column`` marking training images.
        val_split: value marking validation images (empty: carve
            ``validation_fraction`` of training out instead).
        test_split: values marking evaluation images, each an evaluation split
            reported under its own name (a config file may give one string; empty:
            none).
        validation_fraction: fraction of training images held out for validation
            when the manifest has no validation split.
        group_column: manifest column naming each image's group (patient); the
            held-out validation images are whole groups (empty: no groups;
            ``Patient_num`` for the FETAL_PLANES_DB layout).
        missing_labels: ``"refuse"`` a manifest label cell that is empty or a
            missing-value marker (``NA``), or ``"allow"`` it: the image then has no
            label for that task (partial labels,
            :class:`~disentangle_tf.data.manifest.ManifestOptions`).
        separator: manifest field separator.
        extension: appended to image paths that lack it (``.png``).
        channels: 1 (greyscale, the paper) or 3.
        scale: size of the simulated ultrasound set relative to the paper's Table 1.
        shadow_salience: how conspicuous the simulated ultrasound's labelled acoustic
            shadows are, a number in (0, 4]: 1 is the calibrated simulator; higher
            values make the shadows deeper and wider, a stronger shortcut for the plane
            (:mod:`disentangle_tf.data.us_sim.shadows`, docs/ultrasound.rst). Set it with
            ``--set shadow_salience=2`` or in a ``--config`` file; the other data sets
            do not read it.
        memory_budget: how many decoded images a manifest or HDF5 data set may hold in
            memory (float32, all splits together); the largest splits that do not fit
            are streamed from their files in the input pipeline, with the same batches
            (:mod:`disentangle_tf.data.streaming`). ``"auto"``: half the physical
            memory (or of the container's limit); ``"unlimited"``: everything in
            memory; or a size such as ``"8GiB"``, ``"500MB"`` or a number of bytes
            (``0`` streams every split).
    """

    dataset: str = "synthetic"
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE
    batch_size: int = 50
    flip: bool = True
    sampling: str = "group_balanced"
    seed: int = 0
    data: str = ""
    image_root: str = ""
    layout: str = "generic"
    tasks: tuple[str, ...] = ()
    path_column: str = "path"
    split_column: str = "split"
    train_split: str = "train"
    val_split: str = "val"
    test_split: tuple[str, ...] = ("test",)
    validation_fraction: float = 0.0
    group_column: str = ""
    missing_labels: str = "refuse"
    separator: str = ","
    extension: str = ""
    channels: int = 1
    scale: float = 0.5
    shadow_salience: float = 1.0
    memory_budget: str = "auto"


@dataclasses.dataclass
class ModelConfig(Architecture):
    """Architecture of encoders and heads: the fields and defaults of
    :class:`~disentangle_tf.models.defaults.Architecture` (paper, Sect. 2 and Fig. 2).

    ``synchronized_batch_norm`` is turned on by the training run whenever there is more
    than one replica.
    """


@dataclasses.dataclass
class TrainConfig:
    """Optimisation of the two objectives (paper, Eq. 1 and Eq. 2).

    The defaults are the package's recommended setting (``--method recommended``,
    :mod:`disentangle_tf.run.methods`): no adversarial term, the class-conditional HSIC
    penalty on every residual block's output map (averaged and on a 2 x 2 grid),
    group-balanced batches, batch-norm statistics recomputed and the last layers refitted
    after training.
    ``--method paper`` gives the paper's (lambda 0.01, five adversary steps on fresh
    batches).

    Args:
        epochs: passes of the main step over the training split.
        learning_rate: Adam learning rate of encoders and classifiers.
        adversary_learning_rate: SGD learning rate of the adversaries.
        adversary_momentum: SGD momentum of the adversaries.
        adversarial_weight: lambda, the weight of the adversarial term.
        adversary_steps: adversary updates after each main update (paper: 5).
        adversary_batches: ``"fresh"`` (each adversary step sees a new batch, as
            the authors' code) or ``"same"`` (reuse the main batch's features).
        adversarial_objective: what the encoders do to their adversaries:
            ``"maximize_cross_entropy"`` (paper) or ``"uniform"`` (push the
            adversaries' predictions towards the uniform distribution).
        independence_weight: weight of the class-conditional HSIC penalty between
            each task's features and every other task's label given the features'
            own label (not in the paper; 0 leaves it out).
        independence_penalty: the independence penalty: ``"hsic"`` (class-conditional
            HSIC), ``"coral"`` (class-conditional CORAL) or the import path
            ``"package.module:function"`` of one's own (:mod:`disentangle_tf.models.penalties`).
        group_dro_step_size: Group DRO's step size (Sagawa et al., ICLR 2020): each
            combination of labels' task losses weighted online towards the worst
            (:meth:`Disentangler.compile <disentangle_tf.models.Disentangler.compile>`);
            0 leaves it out.
        independence_bandwidth: where the penalty's kernel takes its median
            bandwidth: ``"class"`` (within each class) or ``"batch"``.
        adversarial_training: ``"alternating"`` updates (the paper) or
            ``"gradient_reversal"`` (Ganin & Lempitsky 2015).
        independence_layers: ``"features"`` (the penalty reads each encoder's
            features), ``"blocks"`` (also every residual block's averaged output),
            ``"block_maps"`` (also every block's output map on a grid of up to 2 x 2
            cells) or ``"block_pyramid"`` (both the averages and the cells).
        penalty_schedule: ``"constant"`` lambda and independence weight, or
            ``"dann"``: both warmed up by ``2 / (1 + exp(-10 p)) - 1`` over the
            training progress ``p`` (Ganin & Lempitsky 2015).
        restore_best_weights: at the end of training, restore the weights of the
            epoch with the best mean validation accuracy of the tasks (ties: the
            later epoch); false keeps the last epoch's (the paper).
        precise_batch_norm: after training, set every encoder and classifier
            batch-norm layer's moving statistics to the mean of its statistics over
            this many training batches, computed with the final weights
            (:func:`~disentangle_tf.models.precise_batch_norm.precise_batch_norm`);
            0 keeps the moving averages of training (the paper).
        last_layer_retraining: after training (and the batch-norm statistics), refit
            every classifier's last dense layer on the frozen features of the training
            split, a class-then-group balanced logistic regression
            (:func:`~disentangle_tf.models.last_layer.retrain_last_layer`; Kirichenko
            et al., ICLR 2023); false keeps the trained layer (the paper).
        ensemble_size: how many models to train, from different seeds on the same data,
            whose class probabilities are averaged (a deep ensemble, Lakshminarayanan et
            al., NeurIPS 2017; :mod:`disentangle_tf.run.ensemble`); 1 trains one model.
            Each member costs a whole run.
        ensemble_member: which member of an ensemble this run trains (from 0): its
            initialisation, batch order and flips use seed ``seed + 100 k``, its data
            those of ``seed``; set by the ensemble's run for each member.
        error_upweight: Just Train Twice (:mod:`disentangle_tf.run.jtt`; Liu et al., ICML
            2021): 0 or 1 trains as usual; ``k`` >= 2 first trains an identification model
            (plain, a fifth of the epochs) and repeats each training image whose relevant
            label it gets wrong ``k`` times in all. Needs no nuisance labels.
        jit_compile: compile the training step with XLA.
        strategy: ``"one-device"``, ``"mirrored"`` (all local GPUs, or every
            logical CPU when there is no GPU) or ``"multi-worker"`` (``TF_CONFIG``).
        deterministic: deterministic TensorFlow ops, so that a run, interrupted or
            not, gives the same result for the same seed (turned off again after the
            run, if it was off before).
        threads: TensorFlow's CPU thread pools: ``"auto"`` splits the cores between
            the tasks' encoders on a machine without a GPU
            (:func:`~disentangle_tf.fast.threads.configure_threads`), once per process:
            before TensorFlow's first op, and they stay so; ``"tensorflow"`` keeps
            TensorFlow's defaults.
    """

    epochs: int = 15
    learning_rate: float = LEARNING_RATE
    adversary_learning_rate: float = ADVERSARY_LEARNING_RATE
    adversary_momentum: float = ADVERSARY_MOMENTUM
    adversarial_weight: float = 0.0
    adversary_steps: int = 5
    adversary_batches: str = "same"
    adversarial_objective: str = "maximize_cross_entropy"
    independence_weight: float = 10.0
    independence_bandwidth: str = "class"
    independence_penalty: str = "hsic"
    group_dro_step_size: float = 0.0
    adversarial_training: str = "alternating"
    independence_layers: str = "block_maps"
    penalty_schedule: str = "constant"
    restore_best_weights: bool = False
    precise_batch_norm: int = 30
    last_layer_retraining: bool = True
    ensemble_size: int = 1
    ensemble_member: int = 0
    error_upweight: int = 0
    jit_compile: bool = False
    strategy: str = "one-device"
    deterministic: bool = False
    threads: str = "auto"


#: The keys the configuration gained after runs were recorded, each with the value those runs
#: had before it existed: a run's ``config.json`` or a comparison's settings that lack one of them
#: are read with it (resuming an interrupted run, merging the parts of a comparison).
KEYS_ADDED_LATER = {"shadow_salience": 1.0, "independence_penalty": "hsic", "group_dro_step_size": 0.0}

SECTIONS = {"data": DataConfig, "model": ModelConfig, "training": TrainConfig}

CHOICES = {
    "dataset": ("synthetic", "us-sim", "digits-shadow", "digits-texture", "csv", "hdf5"),
    "layout": ("generic", "fetal_planes_db"),
    "missing_labels": MISSING_LABELS,
    "channels": (1, 3),
    "sampling": SAMPLING,
    "feature_pooling": FEATURE_POOLING,
    "adversary_batches": ADVERSARY_BATCHES,
    "adversarial_objective": ADVERSARIAL_OBJECTIVES,
    "independence_bandwidth": BANDWIDTHS,
    "adversarial_training": ADVERSARIAL_TRAINING,
    "penalty_schedule": ("constant", "dann"),
    "independence_layers": INDEPENDENCE_LAYERS,
    "strategy": STRATEGIES,
    "threads": THREADS,
}


#: The section of each configuration key.
_OWNER = {field.name: section for section, section_cls in SECTIONS.items()
          for field in dataclasses.fields(section_cls)}


@dataclasses.dataclass
class RunConfig:
    """The whole configuration of a training run."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    training: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    def to_flat_dict(self) -> dict[str, Any]:
        """All fields as one flat mapping (the configuration-file layout)."""
        flat: dict[str, Any] = {}
        for section in SECTIONS:
            for key, value in dataclasses.asdict(getattr(self, section)).items():
                flat[key] = list(value) if isinstance(value, tuple) else value
        return flat

    def to_json(self) -> str:
        """The flat mapping as JSON text (the ``config.json`` of a run)."""
        return json.dumps(self.to_flat_dict(), indent=2) + "\n"

    @classmethod
    def from_flat_dict(cls, values: Mapping[str, Any], source: str = "config",
                       sources: Mapping[str, str] | None = None) -> "RunConfig":
        """Build a configuration from a flat mapping, checking keys and types, then the
        whole configuration once (:meth:`validate`).

        Args:
            values: flat mapping of field name to value; dashes in keys are read as
                underscores. Missing keys keep their defaults.
            source: what to call the mapping in error messages (a file name).
            sources: where particular keys' values came from (a file name, or
                :data:`~disentangle_tf.run.config_checks.COMMAND_LINE`), by key with
                underscores; an error about such a key names its own source instead of
                ``source``.

        Raises:
            ConfigError: for an unknown key or a value of the wrong type or range, or
                values that contradict each other, naming the source of each.
        """
        sources = dict(sources or {})
        by_section: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
        for key, value in cls.checked_values(values, source, sources).items():
            by_section[_OWNER[key]][key] = value
        config = cls(**{s: SECTIONS[s](**kw) for s, kw in by_section.items()})
        config.validate(source, sources)
        return config

    @staticmethod
    def checked_values(values: Mapping[str, Any], source: str = "config",
                       sources: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``values`` with their keys and types checked one by one (not their ranges, nor
        how they go together: :meth:`validate` judges those on a whole configuration).

        Args:
            values: flat mapping of field name to value (dashes read as underscores).
            source, sources: as in :meth:`from_flat_dict`.

        Returns:
            The values by key with underscores, each as its field's type (a tuple for a
            list, a float for an int given to a float field).

        Raises:
            ConfigError: for an unknown key or a value of the wrong type, naming its source.
        """
        sources = sources or {}
        checked: dict[str, Any] = {}
        for raw_key, value in values.items():
            key = str(raw_key).replace("-", "_")
            if key not in _OWNER:
                raise ConfigError(
                    f"{sources.get(str(raw_key), source)}: unknown key {raw_key!r}; expected one of: "
                    + ", ".join(sorted(_OWNER))
                )
            checked[key] = coerce(key, value, SECTIONS[_OWNER[key]], sources.get(key, source))
        return checked

    def replace(self, values: Mapping[str, Any], source: str = "option") -> "RunConfig":
        """A copy with some flat keys replaced, checked as in :meth:`from_flat_dict`: the
        new values' types, then the whole configuration (an error names ``source``).

        Raises:
            ConfigError: as :meth:`from_flat_dict`.
        """
        merged = self.to_flat_dict()
        merged.update({str(k).replace("-", "_"): v for k, v in values.items()})
        return RunConfig.from_flat_dict(merged, source=source)

    def validate(self, source: str = "config", sources: Mapping[str, str] | None = None) -> None:
        """Check ranges and choices, and the keys that depend on each other
        (:data:`~disentangle_tf.run.config_checks.CROSS_KEY_CHECKS`), on the configuration as a
        whole (:func:`~disentangle_tf.run.config_checks.check_configuration`).

        Args:
            source: what to call the values' origin in error messages (a file name).
            sources: where particular keys' values came from, as in
                :meth:`from_flat_dict`. An error about keys of several sources names
                each (``deep.yaml and --image-size: image_size ...``); keys without
                one are ``source``'s, named only when no key of the error has its own.

        Raises:
            ConfigError: one line naming the source(s), the key and what was expected.
        """
        check_configuration(self.to_flat_dict(), CHOICES, source, sources)


def load_config_file(path: str | pathlib.Path) -> dict[str, Any]:
    """Read a flat YAML or JSON configuration file (never executes code).

    Raises:
        ConfigError: if the file cannot be read or is not a mapping.
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read config file ({error.strerror})") from None
    try:
        if path.suffix.lower() == ".json":
            values = json.loads(text)
        else:
            values = yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        first_line = str(error).splitlines()[0]
        raise ConfigError(f"{path}: not valid YAML or JSON ({first_line})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of option names to values")
    return values
