"""Class-conditional CORAL: an independence penalty that matches, within each class of the
features' own task, the first and second moments of the features across the other task's labels.

Deep CORAL (Sun & Saenko, "Deep CORAL: correlation alignment for deep domain adaptation",
ECCV 2016 workshops) aligns the means and covariances of two domains' features; DomainBed
(Gulrajani & Lopez-Paz, "In search of lost domain generalization", ICLR 2021) applies it to
every pair of training domains. Here the "domains" are the other task's labels, and the
alignment is made within each class of the features' own task (as the class-conditional
HSIC of :func:`~disentangle_tf.models.objectives.conditional_hsic` is), so that the
features are not asked to forget what their own label says about the other label.
Registered as ``independence_penalty="coral"``
(:data:`~disentangle_tf.models.defaults.INDEPENDENCE_PENALTIES`).
"""

from __future__ import annotations

from keras import ops

from .objectives import MIN_CLASS_COUNT


def _moments(features, mask):
    """Mean ``(D,)`` and covariance ``(D, D)`` of the rows of ``features`` where ``mask`` is 1."""
    count = ops.maximum(ops.sum(mask), 2.0)
    mean = ops.sum(features * mask[:, None], axis=0) / count
    centred = (features - mean[None, :]) * mask[:, None]
    return mean, ops.matmul(ops.transpose(centred), centred) / (count - 1.0)


def conditional_coral(features, other_labels, own_labels, num_own_classes: int, num_other_classes: int,
                      mask=None):
    """Class-conditional CORAL between features and another task's label.

    Within each class ``c`` of the features' own task, for every pair ``(k, l)`` of the
    other task's labels that both have more than ``MIN_CLASS_COUNT`` (3) examples of class
    ``c`` in the batch: ``mean((m_ck - m_cl)**2) + mean((C_ck - C_cl)**2)``, with ``m`` the
    features' mean and ``C`` their covariance over those examples (DomainBed's CORAL
    term). The result is, per class, the mean over its pairs, summed over classes: zero
    when, within every own class, the features' first two moments do not depend on the
    other label.

    Args:
        features: ``(N, D)`` features of one task (any float dtype; computed in float32).
        other_labels: ``(N,)`` integer labels of the other task.
        own_labels: ``(N,)`` integer labels of the features' own task.
        num_own_classes: classes of the own task (a Python int: the loops are static).
        num_other_classes: classes of the other task.
        mask: ``(N,)`` 1 for the examples to include, 0 for those to leave out; None
            includes all. Negative labels are always left out.

    Returns:
        A float32 scalar >= 0, differentiable with respect to ``features``.
    """
    features = ops.cast(ops.reshape(features, (ops.shape(features)[0], -1)), "float32")
    own_labels = ops.reshape(ops.cast(own_labels, "int32"), (-1,))
    other_labels = ops.reshape(ops.cast(other_labels, "int32"), (-1,))
    keep = ops.cast((own_labels >= 0) & (other_labels >= 0), "float32")
    if mask is not None:
        keep = keep * ops.cast(ops.reshape(mask, (-1,)), "float32")
    own = ops.one_hot(ops.maximum(own_labels, 0), int(num_own_classes)) * keep[:, None]
    other = ops.one_hot(ops.maximum(other_labels, 0), int(num_other_classes)) * keep[:, None]
    value = 0.0
    for c in range(int(num_own_classes)):
        groups = [own[:, c] * other[:, k] for k in range(int(num_other_classes))]
        moments = [_moments(features, group) for group in groups]
        present = [ops.cast(ops.sum(group) > MIN_CLASS_COUNT, "float32") for group in groups]
        total, pairs = 0.0, 0.0
        for k in range(len(groups)):
            for l in range(k + 1, len(groups)):
                both = present[k] * present[l]
                (mean_k, cov_k), (mean_l, cov_l) = moments[k], moments[l]
                term = ops.mean(ops.square(mean_k - mean_l)) + ops.mean(ops.square(cov_k - cov_l))
                total = total + both * term
                pairs = pairs + both
        value = value + total / ops.maximum(pairs, 1.0)
    return value
