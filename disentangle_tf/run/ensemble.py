"""A run of a deep ensemble: its members trained one after another on the same data, then
scored and saved as one model.

:func:`disentangle_tf.run.training.run` calls :func:`run_ensemble` for a configuration
with ``ensemble_size`` above 1. Member ``k`` is an ordinary run of the configuration with
``ensemble_size: 1, ensemble_member: k``: the same data (those of ``seed``), its own
initialisation, batch order and flips (seed ``seed + 100 k``), written to
``OUTPUT/members/k`` as a complete run. A killed ensemble resumes where it stopped:
finished members are loaded, an interrupted one resumes from its backup.
"""

from __future__ import annotations

import pathlib
from typing import Callable

import keras

from .config import RunConfig
from ..data.pipeline import streamed_image_errors
from .datasets import load_dataset
from ..evaluation.evaluate import evaluate_splits
from ..fast.threads import configure_threads
from ..models.ensemble import DisentanglerEnsemble
from .headline import headline, validation_name
from .result import RunResult
from .output_lock import hold_output_dir
from .outputs import BACKUP_NAME, OUTPUT_NAMES, check_output_dir, is_finished, prepare_output_dir, write_results
from .writes import STARTS, undone_on_failure, write_text_atomically, writing

#: Member k of an ensemble trains with seed ``seed + MEMBER_SEED_STRIDE * k``.
MEMBER_SEED_STRIDE = 100

#: Where an ensemble's output directory keeps its members' runs.
MEMBERS_NAME = "members"


def training_seed(config: RunConfig) -> int:
    """The seed of initialisation, batch order and flips: ``seed``, or ``seed + 100 k`` for
    member ``k`` of an ensemble (the data stay those of ``seed``)."""
    return config.data.seed + MEMBER_SEED_STRIDE * config.training.ensemble_member


def member_config(config: RunConfig, member: int) -> RunConfig:
    """The configuration of member ``member`` (from 0) of ``config``'s ensemble."""
    return config.replace({"ensemble_size": 1, "ensemble_member": member})


def run_ensemble(config: RunConfig, train_member: Callable, check_data: Callable,
                 output_dir: str | pathlib.Path | None = None, overwrite: bool = False, data=None,
                 notify: Callable[[str], None] = print):
    """Train ``config.training.ensemble_size`` members and score their ensemble.

    Args:
        config: the ensemble's configuration.
        train_member: ``train_member(member_config, member_dir, data)`` trains one member
            and returns its :class:`~disentangle_tf.run.result.RunResult`.
        check_data: ``check_data(data)`` raises
            :class:`~disentangle_tf.errors.DataError` for data the configuration cannot
            train on; called before anything is written.
        output_dir: the ensemble's directory: ``members/k/`` (each member's run), and,
            for the ensemble, ``model.keras``
            (a :class:`~disentangle_tf.models.ensemble.DisentanglerEnsemble`),
            ``saved_model/``, ``metrics.json``, ``figures/``, ``logs/`` (final results)
            and ``config.json``; None writes nothing.
        overwrite: replace an earlier run's files, members included.
        data: the data set; None loads ``config.data.dataset``.
        notify: called with a one-line notice before each member is trained or when it
            is loaded (trained before), and before the ensemble is evaluated and written.

    Returns:
        A :class:`~disentangle_tf.run.result.RunResult`: the ensemble, its scores, the
        history of the first member trained by this call (empty if every member was
        loaded) and the output directory.

    Raises:
        ConfigError: as :func:`~disentangle_tf.run.outputs.check_output_dir` (another live
            process writing to ``output_dir`` included).
        DataError: from ``check_data``, before anything is written.
        WriteError: if a file cannot be written (a full disk), naming it; finished members
            and the interrupted one's backup are kept, and the same call goes on from them.
    """
    training = config.training
    if output_dir is not None:
        output_dir = pathlib.Path(output_dir)
        check_output_dir(output_dir, overwrite, config.to_json())  # writes nothing
    keras.utils.set_random_seed(config.data.seed)
    if data is None:
        if config.data.tasks:
            configure_threads(training.threads, len(config.data.tasks))
        data = load_dataset(config.data)
    configure_threads(training.threads, len(data.tasks))
    check_data(data)
    # The input is good: the ensemble's directory is this process's until its results are
    # written (each member's run holds its own sub-directory's lock).
    with hold_output_dir(output_dir, "training"):
        if output_dir is not None:
            # An unfinished ensemble keeps a (empty) backup folder, so that it is resumable (one
            # that resumes has it, and its config.json); if it cannot be written, none is left.
            if not prepare_output_dir(output_dir, overwrite, config.to_json(), names=(*OUTPUT_NAMES, MEMBERS_NAME)):
                with undone_on_failure(output_dir / BACKUP_NAME), writing(output_dir / BACKUP_NAME, STARTS):
                    (output_dir / BACKUP_NAME).mkdir(exist_ok=True)
                    write_text_atomically(output_dir / "config.json", config.to_json(), STARTS)
        results, members = [], []
        for k in range(training.ensemble_size):
            settings = member_config(config, k)
            member_dir = None if output_dir is None else output_dir / MEMBERS_NAME / str(k)
            if member_dir is not None and is_finished(member_dir, settings.to_json()):
                notify(f"member {k} of the ensemble: trained before, loaded from {member_dir}")
                members.append(keras.saving.load_model(member_dir / "model.keras"))
                continue
            notify(f"member {k} of the ensemble ({k + 1} of {training.ensemble_size}): seed "
                   f"{training_seed(settings)} for initialisation and batch order")
            result = train_member(settings, member_dir, data)
            results.append(result)
            members.append(result.model)
        ensemble = DisentanglerEnsemble(members)
        notify(f"evaluating the ensemble on {', '.join(data.evaluation)}...")
        with streamed_image_errors():
            metrics = evaluate_splits(ensemble, data.evaluation, config.data.batch_size)
        words = headline(metrics, data.relevant_task, validation_name(data.evaluation, data.validation))
        if output_dir is not None:
            write_results(ensemble, metrics, output_dir, step=training.epochs, headline=words, notify=notify,
                          saved_model=training.saved_model, figures=training.figures)
    history = results[0].history if results else {}
    return RunResult(model=ensemble, metrics=metrics, history=history, output_dir=output_dir,
                     relevant_task=data.relevant_task, headline=words)
