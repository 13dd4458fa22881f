"""The checks of a whole run configuration: each value's range or choice, and the keys
that go together, judged once all the values are known (no TensorFlow here)."""

from __future__ import annotations

import math
from typing import Any, Mapping

from .config_values import memory_budget_bytes
from ..data.us_sim.shadows import MAX_SHADOW_SALIENCE
from ..errors import ConfigError
from ..models.penalties import check_penalty_name

#: The keys whose values :func:`check_configuration` judges together: a file may give one
#: and the command line the other, so they are checked once, on the merged configuration.
CROSS_KEY_CHECKS = (("dataset", "data"), ("encoder_filters", "encoder_strides"), ("image_size", "encoder_strides"))

#: The source of values given as command-line options
#: (:meth:`~disentangle_tf.run.config.RunConfig.from_flat_dict`).
COMMAND_LINE = "command line"

#: Configuration keys whose command-line option is not ``--`` and the key with dashes.
_OPTION_NAMES = {"tasks": "--task"}


def option_name(key: str) -> str:
    """The command-line option of configuration key ``key`` (``batch_size``: ``--batch-size``)."""
    return _OPTION_NAMES.get(key, "--" + key.replace("_", "-"))


def check_configuration(flat: Mapping[str, Any], choices: Mapping[str, tuple], source: str = "config",
                        sources: Mapping[str, str] | None = None) -> None:
    """Check a whole configuration's ranges and choices, and the keys that depend on each
    other (:data:`CROSS_KEY_CHECKS`).

    Args:
        flat: every key's value (:meth:`~disentangle_tf.run.config.RunConfig.to_flat_dict`).
        choices: the allowed values of the keys that have a fixed set of them.
        source: what to call the values' origin in error messages (a file name).
        sources: where particular keys' values came from (a file name, or
            :data:`COMMAND_LINE`). An error about keys of several sources names each
            (``deep.yaml and --image-size: image_size ...``); keys without one are
            ``source``'s, named only when no key of the error has its own.

    Raises:
        ConfigError: one line naming the source(s), the key and what was expected.
    """

    def origin(*keys: str) -> str:
        # The sources of the error's keys; values given as options are named by their
        # option when the error has several sources (alone, "command line: key ...").
        named = {key: sources[key] for key in keys if sources and key in sources}
        if len(set(named.values())) == 1:
            return next(iter(named.values()))
        labels = (option_name(key) if label == COMMAND_LINE else label for key, label in named.items())
        return " and ".join(dict.fromkeys(labels)) or source

    for key, value in flat.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{origin(key)}: {key} must be a finite number; got {value}")
    for key, allowed in choices.items():
        if flat[key] not in allowed:
            raise ConfigError(
                f"{origin(key)}: {key} must be one of {', '.join(map(str, allowed))}; got {flat[key]!r}"
            )
    if flat["dataset"] in ("csv", "hdf5") and not flat["data"]:
        raise ConfigError(f"{origin('dataset', 'data')}: the {flat['dataset']} data set needs a file: pass --data "
                          "(or set data in the config file)")
    if not 0 <= flat["validation_fraction"] < 1:
        raise ConfigError(
            f"{origin('validation_fraction')}: validation_fraction must be in [0, 1); "
            f"got {flat['validation_fraction']}"
        )
    repeated = sorted({v for v in flat["test_split"] if flat["test_split"].count(v) > 1})
    if repeated:
        raise ConfigError(f"{origin('test_split')}: test_split names {repeated[0]!r} twice; "
                          "expected distinct values")
    try:
        memory_budget_bytes(flat["memory_budget"])
    except ValueError as error:
        raise ConfigError(f"{origin('memory_budget')}: {error}") from None
    if not 0 < flat["scale"] <= 1:
        raise ConfigError(f"{origin('scale')}: scale must be in (0, 1]; got {flat['scale']}")
    if not 0 < flat["shadow_salience"] <= MAX_SHADOW_SALIENCE:
        raise ConfigError(f"{origin('shadow_salience')}: shadow_salience must be in (0, {MAX_SHADOW_SALIENCE:g}]; "
                          f"got {flat['shadow_salience']}")
    positive = ("batch_size", "epochs", "stem_filters", "ensemble_size")
    for key in positive:
        if flat[key] < 1:
            raise ConfigError(f"{origin(key)}: {key} must be >= 1; got {flat[key]}")
    for key in ("head_units", "encoder_filters", "encoder_strides"):
        if any(value < 1 for value in flat[key]):
            raise ConfigError(f"{origin(key)}: {key} must be integers >= 1; got {flat[key]}")
    if not flat["encoder_filters"]:
        raise ConfigError(f"{origin('encoder_filters')}: encoder_filters must list at least one residual "
                          "block; got []")
    if not flat["adversary_momentum"] < 1:
        raise ConfigError(f"{origin('adversary_momentum')}: adversary_momentum must be in [0, 1); "
                          f"got {flat['adversary_momentum']}")
    if flat["precise_batch_norm"] < 0:
        raise ConfigError(f"{origin('precise_batch_norm')}: precise_batch_norm must be >= 0; "
                          f"got {flat['precise_batch_norm']}")
    try:
        check_penalty_name(flat["independence_penalty"])
    except ValueError as error:
        raise ConfigError(f"{origin('independence_penalty')}: {error}") from None
    if flat["group_dro_step_size"] < 0:
        raise ConfigError(f"{origin('group_dro_step_size')}: group_dro_step_size must be >= 0; "
                          f"got {flat['group_dro_step_size']}")
    if flat["error_upweight"] < 0:
        raise ConfigError(f"{origin('error_upweight')}: error_upweight must be >= 0; got {flat['error_upweight']}")
    if flat["ensemble_member"] < 0:
        raise ConfigError(f"{origin('ensemble_member')}: ensemble_member must be >= 0; "
                          f"got {flat['ensemble_member']}")
    if flat["adversary_steps"] < 0:
        raise ConfigError(f"{origin('adversary_steps')}: adversary_steps must be >= 0; "
                          f"got {flat['adversary_steps']}")
    for key in ("learning_rate", "adversary_learning_rate"):
        if flat[key] <= 0:
            raise ConfigError(f"{origin(key)}: {key} must be > 0; got {flat[key]}")
    for key in ("adversarial_weight", "independence_weight", "l2_weight", "adversary_momentum"):
        if flat[key] < 0:
            raise ConfigError(f"{origin(key)}: {key} must be >= 0; got {flat[key]}")
    if len(flat["image_size"]) != 2 or min(flat["image_size"]) < 16:
        raise ConfigError(
            f"{origin('image_size')}: image_size must be two integers HEIGHT WIDTH, each >= 16; "
            f"got {flat['image_size']}"
        )
    if len(flat["encoder_filters"]) != len(flat["encoder_strides"]):
        raise ConfigError(
            f"{origin('encoder_filters', 'encoder_strides')}: encoder_filters and encoder_strides must have "
            "the same length; "
            f"got {len(flat['encoder_filters'])} and {len(flat['encoder_strides'])}"
        )
    downsampling = 1
    for stride in flat["encoder_strides"]:
        downsampling *= stride
    if min(flat["image_size"]) < downsampling:
        raise ConfigError(
            f"{origin('image_size', 'encoder_strides')}: image_size {tuple(flat['image_size'])} is smaller "
            "than the encoder's "
            f"total stride {downsampling}; expected each side >= {downsampling}"
        )
