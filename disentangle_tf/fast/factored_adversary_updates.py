"""Same-batch adversary updates with each first dense kernel kept in factored form.

With ``adversary_batches="same"`` the ``adversary_steps`` updates of Eq. 2 all read
the same frozen features ``X`` (N x F). The gradient of an adversary's first dense
kernel ``W`` (F x H) is then ``X^T D + 2 c W``, with ``D`` the loss gradient of the
projection ``X W`` (N x H) and ``c`` the L2 weight, so SGD with momentum keeps the
kernel and its momentum ``M`` in the span of the step's starting values and ``X^T``:

    W_s = a_s W_0 + b_s M_0 + X^T C_s,      M_s = p_s W_0 + q_s M_0 + X^T E_s,

with scalars ``a, b, p, q`` and N x H matrices ``C, E``. The projection of step ``s``
is ``X W_s = a_s (X W_0) + b_s (X M_0) + (X X^T) C_s``. So the steps need ``X W_0``,
``X M_0`` and ``X X^T`` once, N x H arithmetic per step, and two F x H products at the
end to write ``W`` and ``M`` back; the plain updates read and write the F x H kernel,
its gradient and its momentum in every step. At the paper's 224 x 288 images
(F = 64,512, H = 256, N = 50) that is most of what the adversary steps cost.

The result is that of the plain updates up to floating-point rounding. The layers
after the projection (batch norm, ReLU, the smaller dense layers) are updated by the
adversary optimizer as usual, once per step, so its iteration count, learning-rate
schedule and slots advance as they would.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ..replicas import replicated_strategy_active
from . import enabled
from .keras_internals import SGD_SLOTS, slot_variables, slots_readable
from .optimizers import FusedSGD


def factored_updates_apply(optimizer, heads) -> bool:
    """True if the factored updates compute exactly what ``optimizer`` would, and the fast
    paths are on (:func:`disentangle_tf.fast.enabled`).

    That needs Keras's SGD (or :class:`~disentangle_tf.fast.optimizers.FusedSGD`, whose
    update is the same) with momentum, plain or Nesterov, not a subclass with an update
    of its own; no gradient clipping, weight decay, EMA, loss scaling or gradient
    accumulation; no strategy synchronising replicas (MirroredStrategy, even with one
    replica); heads whose first dense layer is float32,
    unconstrained and L2-regularised (or not regularised); and a Keras with the private
    names of SGD's momentum slots (:mod:`~disentangle_tf.fast.keras_internals`; without
    them, one warning, and the plain updates run).
    """
    if not enabled():
        return False
    if not isinstance(optimizer, keras.optimizers.SGD) or isinstance(
        optimizer, keras.optimizers.LossScaleOptimizer
    ):
        return False
    if type(optimizer).update_step not in (keras.optimizers.SGD.update_step, FusedSGD.update_step):
        return False
    if not float(optimizer.momentum) > 0:
        return False
    if any(
        getattr(optimizer, name, None)
        for name in ("clipnorm", "clipvalue", "global_clipnorm", "weight_decay", "use_ema",
                     "loss_scale_factor", "gradient_accumulation_steps")
    ):
        return False
    if replicated_strategy_active():
        return False
    for head in heads:
        projection = getattr(head, "projection", None)
        if projection is None or projection.use_bias or projection.kernel.constraint is not None:
            return False
        if projection.compute_dtype != "float32" or projection.kernel.dtype != "float32":
            return False
        if _l2_weight(projection) is None:
            return False
    return slots_readable(optimizer, SGD_SLOTS)


def _l2_weight(projection):
    """The L2 weight of the projection's kernel: 0 without a regularizer, None for another kind."""
    regularizer = projection.kernel_regularizer
    if regularizer is None:
        return 0.0
    if type(regularizer) is keras.regularizers.L2:
        return float(regularizer.l2)
    return None


def factored_same_batch_updates(heads, features, labels, optimizer, steps: int, weights=None, *,
                                cross_entropy):
    """Run ``steps`` updates of Eq. 2 on fixed features, each kernel in factored form.

    Args:
        heads: the adversaries (:class:`~disentangle_tf.models.DenseHead`).
        features: per head, the frozen features it reads (N x F).
        labels: per head, the integer labels it predicts (N,).
        optimizer: the adversaries' SGD with momentum, built on their variables.
        steps: number of updates.
        weights: per head, ``(N,)`` example weights of its loss (``sum(w * CE) / N``);
            None weighs every example 1.
        cross_entropy: ``(labels, logits) -> (N,)`` per-example loss of a head
            (:func:`disentangle_tf.models.objectives.sparse_cross_entropy`).

    Returns:
        None; the heads' variables and the optimizer's state are updated.
    """
    projections = [head.projection for head in heads]
    kernels = [projection.kernel for projection in projections]
    momenta = [slot_variables(optimizer, SGD_SLOTS, kernel)[0] for kernel in kernels]
    tail_variables = [
        v for head, projection in zip(heads, projections)
        for v in head.trainable_variables if v is not projection.kernel
    ]
    tail_layers = [layer for head in heads for layer in head.layers_after_projection()]
    decay = [2.0 * _l2_weight(projection) for projection in projections]  # gradient of c |W|^2
    momentum = tf.cast(optimizer.momentum, "float32")
    nesterov = bool(optimizer.nesterov)

    x = [tf.convert_to_tensor(f, dtype="float32") for f in features]
    weights = [1.0 if w is None else tf.cast(w, "float32") for w in (weights or [None] * len(heads))]
    start_projection = [tf.matmul(xi, w) for xi, w in zip(x, kernels)]  # X W_0
    momentum_projection = [tf.matmul(xi, m) for xi, m in zip(x, momenta)]  # X M_0
    gram = [tf.matmul(xi, xi, transpose_b=True) for xi in x]  # X X^T

    def step(state):
        coefficients, residuals = state  # per head: (a, b, p, q), (C, E)
        projected = [
            a * p0 + b * q0 + tf.matmul(k, c)
            for (a, b, _, _), (c, _), p0, q0, k in zip(coefficients, residuals, start_projection,
                                                       momentum_projection, gram)
        ]
        with tf.GradientTape() as tape:
            tape.watch(projected)
            loss = tf.add_n([
                tf.reduce_mean(w * cross_entropy(y, head.call_after_projection(z, training=True)))
                for head, z, y, w in zip(heads, projected, labels, weights)
            ] + [loss for layer in tail_layers for loss in layer.losses])
        gradients = tape.gradient(loss, [*projected, *tail_variables])
        projection_gradients, tail_gradients = gradients[: len(heads)], gradients[len(heads):]
        learning_rate = tf.cast(optimizer.learning_rate, "float32")
        optimizer.apply_gradients(zip(tail_gradients, tail_variables))

        new_coefficients, new_residuals = [], []
        for (a, b, p, q), (c, e), d, l2 in zip(coefficients, residuals, projection_gradients, decay):
            # g = X^T D + l2 W;  M' = momentum M - lr g;  W' = W + M' (Nesterov: W + momentum M' - lr g).
            step_a, step_b, step_c = learning_rate * l2 * a, learning_rate * l2 * b, learning_rate * (d + l2 * c)
            p, q, e = momentum * p - step_a, momentum * q - step_b, momentum * e - step_c
            if nesterov:
                a, b, c = a + momentum * p - step_a, b + momentum * q - step_b, c + momentum * e - step_c
            else:
                a, b, c = a + p, b + q, c + e
            new_coefficients.append((a, b, p, q))
            new_residuals.append((c, e))
        return (new_coefficients, new_residuals)

    one, zero = tf.constant(1.0), tf.constant(0.0)
    state = (
        [(one, zero, zero, one) for _ in heads],
        [(tf.zeros_like(p0), tf.zeros_like(p0)) for p0 in start_projection],
    )
    if tf.executing_eagerly():
        for _ in range(steps):
            state = step(state)
    else:
        _, state = tf.while_loop(
            lambda s, _: s < steps, lambda s, carried: (s + 1, step(carried)), (tf.constant(0), state)
        )

    coefficients, residuals = state
    for xi, kernel, moment, (a, b, p, q), (c, e) in zip(x, kernels, momenta, coefficients, residuals):
        start_kernel, start_momentum = tf.convert_to_tensor(kernel), tf.convert_to_tensor(moment)
        kernel_in_span = a * start_kernel + b * start_momentum
        momentum_in_span = p * start_kernel + q * start_momentum
        # Assigned, then accumulated: written as one sum of three F x H terms, the
        # write-back left about 300 MiB of tensors allocated between steps at
        # 224 x 288 (TensorFlow's allocator statistics), and raised the step's peak.
        kernel.assign(kernel_in_span)
        kernel.assign_add(tf.matmul(xi, c, transpose_a=True))
        moment.assign(momentum_in_span)
        moment.assign_add(tf.matmul(xi, e, transpose_a=True))
