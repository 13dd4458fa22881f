"""A deep ensemble of trained Disentanglers: their class probabilities averaged."""

from __future__ import annotations

import keras
from keras import ops

from .disentangler import Disentangler


def _mean_log_probabilities(logits):
    """``log(mean_k softmax(logits_k))`` of a list of ``(N, K)`` logits, computed stably."""
    stacked = ops.stack([ops.log_softmax(ops.cast(z, "float32"), axis=-1) for z in logits])
    return ops.logsumexp(stacked, axis=0) - ops.log(float(len(logits)))


@keras.saving.register_keras_serializable(package="disentangle_tf")
class DisentanglerEnsemble(keras.Model):
    """Several Disentanglers of the same tasks, trained from different seeds, read as one.

    Each task's prediction is the mean of the members' softmax probabilities (a deep
    ensemble, Lakshminarayanan, Pritzel & Blundell, NeurIPS 2017), returned as its
    logarithm so that the model has the interface of one
    :class:`~disentangle_tf.models.Disentangler`: ``softmax`` of the returned logits is
    the mean probability. A task's features are the members' features side by side
    (``(N, M * D)`` for M members of ``D`` features), what a probe of the ensemble's
    representation reads. The ensemble is for inference and evaluation; each member is
    trained on its own (:func:`disentangle_tf.run.ensemble.run_ensemble`).

    Args:
        members: the trained :class:`~disentangle_tf.models.Disentangler` models, at least
            one, with the same tasks (names and classes), image shape and adversary pairs.
        **kwargs: passed to ``keras.Model`` (``name``, ...).

    Raises:
        ValueError: for no member, or members of different tasks or image shapes.

    Example:

    >>> ensemble = DisentanglerEnsemble([model_a, model_b, model_c])  # doctest: +SKIP
    >>> probabilities = ensemble.predict_probabilities(images)["shape"]  # (N, 2)
    """

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        members = list(members)
        if not members:
            raise ValueError("members: expected at least one trained Disentangler")
        first = members[0]
        for k, member in enumerate(members):
            if not isinstance(member, Disentangler):
                raise ValueError(f"members[{k}]: expected a Disentangler, got {type(member).__name__}")
            if member.tasks != first.tasks or tuple(member.image_shape) != tuple(first.image_shape):
                raise ValueError(f"members[{k}]: tasks or image shape differ from members[0]'s "
                                 f"({[t.name for t in first.tasks]}, {tuple(first.image_shape)})")
        self.members = members
        self.tasks = first.tasks
        self.task_names = first.task_names
        self.image_shape = tuple(first.image_shape)
        self.adversary_pairs = first.adversary_pairs
        self.adversary_names = first.adversary_names
        # The members train on the same images: the first's record is the ensemble's.
        self.training_combinations = first.training_combinations
        self.built = True  # the members are built (trained); nothing of its own to build

    def call(self, images, training=False, return_features=False):
        outputs = [member(images, training=training, return_features=True) for member in self.members]
        logits = {t: _mean_log_probabilities([o[0][t] for o in outputs]) for t in self.task_names}
        if not return_features:
            return logits
        features = {t: ops.concatenate([o[1][t] for o in outputs], axis=-1) for t in self.task_names}
        return logits, features

    def forward_pass(self, images, training=False, labels=None):
        """As :meth:`Disentangler.forward_pass`: features, task logits and adversary logits in
        task / pair order, the logits averaged as probabilities, the features joined."""
        outputs = [member.forward_pass(images, training, labels=labels) for member in self.members]
        features = [ops.concatenate([o[0][i] for o in outputs], axis=-1) for i in range(len(self.task_names))]
        task_logits = [_mean_log_probabilities([o[1][i] for o in outputs]) for i in range(len(self.task_names))]
        adversary_logits = [_mean_log_probabilities([o[2][p] for o in outputs])
                            for p in range(len(self.adversary_pairs))]
        return features, task_logits, adversary_logits

    def predict_probabilities(self, images):
        """The members' mean softmax probabilities per task (a dict), in inference mode."""
        return {t: ops.softmax(logits, axis=-1) for t, logits in self(images, training=False).items()}

    def get_config(self):
        return {**super().get_config(),
                "members": [keras.saving.serialize_keras_object(member) for member in self.members]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["members"] = [keras.saving.deserialize_keras_object(member) for member in config["members"]]
        return cls(**config)
