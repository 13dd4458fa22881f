"""Mixup of training batches: each image blended with a partner from its batch.

Every image ``x_i`` of a main batch is replaced by ``lam_i * x_i + (1 - lam_i) * x_j``,
with ``lam_i ~ Beta(alpha, alpha)`` and ``j`` a partner drawn at random in the batch; the
loss of every task is then ``lam_i * CE(y_i) + (1 - lam_i) * CE(y_j)``. The batch is
passed on twice, once with each image's own labels and once with its partner's, as
example weights ``2 lam_i`` and ``2 (1 - lam_i)`` (so that the weights average 1, as an
unmixed batch's): the loss, the independence penalty and the adversaries see the mixed
images with both label sets, and a missing label (-1) stays missing on its side.

Partners (``mixup_partners``):

- ``"any"``: any image of the batch (itself included), mixup as published;
- ``"other_combination"``: an image that differs from it in the label of *every* task
  where there is one in the batch (any image otherwise). For two tasks, a digit with a
  shadow is blended with another digit without one: the mixed images hold an object of
  one class beside the nuisance of another, soft targets that a combination missing from
  training lacks.

Reference: Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018; the
selective choice of partners follows Yao et al., "Improving Out-of-Distribution
Robustness via Selective Augmentation" (LISA), ICML 2022, which mixes within a label or
within a domain; here across both.
"""

from __future__ import annotations

import tensorflow as tf

from .arguments import MIXUP_PARTNERS


def mix_batch(images: tf.Tensor, labels: dict, seed: tf.Tensor, alpha: float, partners: str = "any"):
    """Mixup of one batch (graph-safe; a pure function of ``seed``).

    Args:
        images: ``(B, H, W, C)`` float images.
        labels: per task, ``(B,)`` integer labels (-1: missing).
        seed: ``(2,)`` int64 stateless seed of the partners and weights.
        alpha: the Beta distribution's parameter (> 0): small values mix little.
        partners: one of :data:`MIXUP_PARTNERS`.

    Returns:
        ``(images, labels, weights)`` of ``2 B`` examples: the mixed images twice; each
        task's labels, then its partners' labels; the float32 weights ``2 lam``, then
        ``2 (1 - lam)``.

    Raises:
        ValueError: for ``alpha <= 0`` or an unknown ``partners``.
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0; got {alpha!r}")
    if partners not in MIXUP_PARTNERS:
        raise ValueError(f"partners must be one of {', '.join(MIXUP_PARTNERS)}; got {partners!r}")
    seed = tf.cast(seed, tf.int64)
    count = tf.shape(images, out_type=tf.int64)[0]
    scores = tf.random.stateless_uniform(tf.stack([count, count]), seed)
    if partners == "other_combination":
        allowed = tf.ones(tf.stack([count, count]), tf.bool)
        for y in labels.values():
            y = tf.cast(y, tf.int64)
            allowed &= tf.not_equal(y[:, None], y[None, :]) | (y[:, None] < 0) | (y[None, :] < 0)
        has_one = tf.reduce_any(allowed, axis=1, keepdims=True)
        scores = tf.where(allowed | ~has_one, scores, -1.0)
    partner = tf.argmax(scores, axis=1)
    first = tf.random.stateless_gamma(tf.reshape(count, [1]), seed + 1, alpha)
    second = tf.random.stateless_gamma(tf.reshape(count, [1]), seed + 2, alpha)
    lam = first / (first + second)
    share = tf.reshape(tf.cast(lam, images.dtype), [-1, 1, 1, 1])
    mixed = share * images + (1 - share) * tf.gather(images, partner)
    both = {task: tf.concat([y, tf.gather(y, partner)], axis=0) for task, y in labels.items()}
    weights = tf.cast(tf.concat([2 * lam, 2 * (1 - lam)], axis=0), tf.float32)
    return tf.concat([mixed, mixed], axis=0), both, weights
