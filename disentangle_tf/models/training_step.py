"""The training and test steps of the :class:`~disentangle_tf.models.Disentangler`.

Eq. 1 (encoders and classifiers against the adversaries) and ``adversary_steps``
updates of Eq. 2 (the adversaries alone) per training step (paper, Sect. 2), or one
backward pass through a gradient reversal layer; the metrics of both steps. A mixin of
the model: it reads the model's public attributes (its tasks, networks, compiled
settings, :meth:`~disentangle_tf.models.Disentangler.encode` and
:meth:`~disentangle_tf.models.Disentangler.forward_pass`) and keeps no state of its own.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import tensorflow as tf
from keras import ops

from ..fast.factored_adversary_updates import factored_same_batch_updates, factored_updates_apply
from ..replicas import replicated_strategy_active
from . import objectives
from .example_weights import labels_per_task, task_weights
from .penalties import get_penalty


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


def _global_average(per_example):
    """Mean over the global batch: the per-replica sum over (local batch x replicas).

    Gradients of the replicas are summed by the optimizer under ``tf.distribute``, so
    this keeps every loss the mean over the whole global batch.
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    count = ops.cast(ops.shape(per_example)[0] * replicas, per_example.dtype)
    return ops.sum(per_example) / count


class TrainingStep:
    """``train_step`` and ``test_step`` of a :class:`~disentangle_tf.models.Disentangler` (a mixin)."""

    def _split_data(self, data):
        """``(images, labels, sample_weight)`` of the main batch and the fresh adversary batch or None."""
        first = data[0]
        if isinstance(first, (tuple, list)):
            main, (adversary_images, adversary_labels) = data
            images, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(tuple(main))
            fresh = (adversary_images, labels_per_task(self.task_names, adversary_labels))
            return images, labels_per_task(self.task_names, labels), sample_weight, fresh
        images, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if labels is None:
            raise ValueError("data: expected (images, labels) or (images, labels, sample_weight) batches; "
                             "got images without labels")
        return images, labels_per_task(self.task_names, labels), sample_weight, None

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
        objective = objectives.get_objective(self.adversarial_objective)
        penalty = [objective(labels[j], z) * weights[j]
                   for z, (_, j) in zip(adversary_logits, self.adversary_pairs)]
        return task, adversary, penalty

    def _weight_penalty(self, models):
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        losses = [loss for model in models for loss in model.losses]
        return ops.cast(ops.sum(ops.stack(losses)), "float32") / replicas if losses else 0.0

    def _independence_loss(self, features, labels, weights=None):
        """Sum over pairs ``i != j`` of the independence penalty (``independence_penalty``,
        by default the HSIC) of ``z_i`` and ``y_j`` given ``y_i``.

        Examples of weight 0 for task ``i`` or ``j`` (a missing label, a zero sample
        weight) are left out of the pair's estimate; other weights do not scale it.
        Computed on each replica's batch; divided by the number of replicas so that the
        summed gradients are those of the mean over replicas. Features of shape
        ``(N, G, C)`` (grid cells) count each cell as a sample with its image's labels.
        """
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        weights = task_weights(self.task_names, labels) if weights is None else weights
        penalty = get_penalty(self.independence_penalty, self.independence_bandwidth)
        total = 0.0
        for i, j in self.adversary_pairs:
            z, own, other = features[i], labels[i], labels[j]
            mask = ops.cast((weights[i] > 0) & (weights[j] > 0), "float32")
            if len(z.shape) == 3:
                cells = z.shape[1]
                z = ops.reshape(z, (-1, z.shape[2]))
                own, other, mask = (ops.repeat(t, cells, axis=0) for t in (own, other, mask))
            total += penalty(z, other, own, self.tasks[i].num_classes, self.tasks[j].num_classes, mask=mask)
        return total / replicas

    def _eq1(self, images, labels, training, reverse_gradient=False, sample_weight=None):
        """Forward pass and Eq. 1 without its L2 term (what train and test steps share).

        With ``reverse_gradient`` the adversaries read the features through a gradient
        reversal layer of scale lambda (times the schedule's factor), and Eq. 1 leaves
        the adversarial term out: the reversed gradient of the adversaries' own loss
        stands in for it. ``sample_weight`` (and, in training, the class weights given
        to ``fit``) weight each example's losses
        (:func:`~disentangle_tf.models.example_weights.task_weights`).
        """
        weights = task_weights(self.task_names, labels, sample_weight, self.fit_class_weights if training else None)
        scale = ops.cast(self.penalty_scale, "float32")
        # With lambda = 0 the reversal layer still stands (of scale 0), so that the
        # adversaries' loss never reaches the encoders un-reversed.
        reverse = self.adversarial_weight * scale if reverse_gradient else None
        # False, "blocks", "block_maps" or "block_pyramid": how _encode pools the residual blocks' outputs.
        penalised = self.independence_weight > 0 and self.independence_layers != "features"
        with_blocks = self.independence_layers if penalised else False
        features, block_means = self.encode(images, training, with_blocks=with_blocks)
        features, task_logits, adversary_logits = self.forward_pass(
            images, training=training, labels=labels, reverse_gradient_scale=reverse, features=features)
        task_losses, adversary_losses, penalties = self._per_example_losses(
            labels, task_logits, adversary_logits, weights)
        if training and self.group_dro_step_size > 0:
            task_losses = self._group_dro(labels, task_losses)
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

    def _group_dro(self, labels, task_losses):
        """Group DRO's online step (Sagawa et al., ICLR 2020, Algorithm 1) on per-example task losses.

        A group is a combination of labels (row-major over the tasks). ``q_g <- q_g *
        exp(eta * L_g)`` for every group in the batch, ``L_g`` its mean summed task loss
        (no gradient), then ``q`` is renormalised; each example's task losses are scaled by
        ``N q_g / n_g``, so that their batch mean is ``sum_g q_g L_g`` over the groups present.
        """
        groups = ops.zeros_like(ops.cast(labels[0], "int32"))
        for task, y in zip(self.tasks, labels):
            groups = groups * task.num_classes + ops.maximum(ops.cast(y, "int32"), 0)
        one_hot = ops.one_hot(groups, self.group_weights.shape[0])
        sizes = ops.sum(one_hot, axis=0)
        losses = ops.stop_gradient(sum(task_losses))
        group_losses = ops.matmul(losses[None, :], one_hot)[0] / ops.maximum(sizes, 1.0)
        exponent = ops.where(sizes > 0, self.group_dro_step_size * group_losses, 0.0)
        q = self.group_weights * ops.exp(exponent - ops.max(exponent))  # the shift cancels in the normalisation
        q = q / ops.sum(q)
        self.group_weights.assign(q)
        factor = ops.take(q / ops.maximum(sizes, 1.0), groups) * ops.cast(ops.shape(groups)[0], "float32")
        return [loss * factor for loss in task_losses]

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
                    cross_entropy=objectives.sparse_cross_entropy,
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
                self._adversary_update(step_features, step_labels, task_weights(self.task_names, step_labels))

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
