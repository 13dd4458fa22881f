"""Run configuration: typed dataclasses generated from the table of options.

A run is described by a :class:`RunConfig` made of three sections, each a dataclass:
:class:`DataConfig`, :class:`ModelConfig` and :class:`TrainConfig`. Field names are
unique across sections, so a configuration file is a flat mapping whose keys mirror the
command-line options (``batch_size`` for ``--batch-size``)::

    epochs: 30
    image_size: [56, 72]
    adversarial_weight: 0.01

Unknown keys and values of the wrong type raise :class:`ConfigError` with a message that
names the key and what was expected.

Every key, its type, default, help and allowed values is declared once, in
:data:`~disentangle_tf.run.options.OPTIONS`; the sections' fields are made from it (the model
section's are the model's :class:`~disentangle_tf.models.defaults.Architecture`, whose
defaults the table reads). Defaults follow the paper (Meng et al., 2019) and the authors' code
where those are known; the learning rates are raised from the authors' 1e-5 so that a run of
a few minutes on a CPU converges (see ``docs/method.rst``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import pathlib
from typing import Any, Mapping

import yaml

from .config_checks import COMMAND_LINE, CROSS_KEY_CHECKS, check_configuration, option_name  # noqa: F401
from .config_values import coerce, memory_budget_bytes  # noqa: F401  (imported from here too)
from ..errors import ConfigError
from ..models.defaults import Architecture
from .option_text import section_docstring
from .options import FROM_THE_START, OPTIONS, keys_of


def _section_class(name: str, section: str, summary: str) -> type:
    """The dataclass of one section: a field of each of its keys in the table, with its
    type and default, documented by the keys' help texts."""
    fields = [(option.key, option.type, dataclasses.field(default=option.default))
              for option in OPTIONS if option.section == section]
    cls = dataclasses.make_dataclass(name, fields)
    cls.__module__ = __name__
    cls.__doc__ = section_docstring(summary, section)
    return cls


DataConfig = _section_class("DataConfig", "data", """Which data set to use and how to feed it.""")


@dataclasses.dataclass
class ModelConfig(Architecture):
    pass


ModelConfig.__doc__ = section_docstring("""Architecture of encoders and heads: the fields and defaults of
:class:`~disentangle_tf.models.defaults.Architecture` (paper, Sect. 2 and Fig. 2).""", "model")

if keys_of(section="model") != tuple(field.name for field in dataclasses.fields(Architecture)):
    raise TypeError("the model rows of disentangle_tf.run.options.OPTIONS must be Architecture's fields, in its "
                    f"order: {keys_of(section='model')} and {tuple(f.name for f in dataclasses.fields(Architecture))}")

TrainConfig = _section_class("TrainConfig", "training", """Optimisation of the two objectives (paper, Eq. 1 and Eq. 2).

The defaults are the package's recommended setting (``--method recommended``,
:mod:`disentangle_tf.run.methods`): no adversarial term, the class-conditional HSIC
penalty on every residual block's output map (averaged and on a 2 x 2 grid),
group-balanced batches, batch-norm statistics recomputed and the last layers refitted
after training.
``--method paper`` gives the paper's (lambda 0.01, five adversary steps on fresh
batches).""")


#: The keys the configuration gained after runs were recorded, each with the value those runs
#: had before it existed: a run's ``config.json`` or a comparison's settings that lack one of them
#: are read with it (resuming an interrupted run, merging the parts of a comparison).
KEYS_ADDED_LATER = {option.key: option.earlier for option in OPTIONS if option.earlier is not FROM_THE_START}

SECTIONS = {"data": DataConfig, "model": ModelConfig, "training": TrainConfig}

#: The allowed values of the keys that have a fixed set of them.
CHOICES = {option.key: option.choices for option in OPTIONS if option.choices}

#: The keys written to TensorBoard's HParams page: those that change what is learned.
HYPERPARAMETERS = tuple(option.key for option in OPTIONS if option.hyperparameter)


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

    def hyperparameters(self) -> dict[str, Any]:
        """The values of the keys that change what is learned (:data:`HYPERPARAMETERS`),
        for TensorBoard's HParams page; not paths, columns, threads or the strategy."""
        flat = self.to_flat_dict()
        return {key: flat[key] for key in HYPERPARAMETERS}

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
                close = difflib.get_close_matches(key, _OWNER, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ConfigError(
                    f"{sources.get(str(raw_key), source)}: unknown key {raw_key!r}{hint}; expected one of: "
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
        """Check each key's range and choices (as its row of
        :data:`~disentangle_tf.run.options.OPTIONS` declares), and the keys that depend on each other
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
        check_configuration(self.to_flat_dict(), source, sources)


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
