"""What the encoders do to the adversaries: the adversarial term of Eq. 1.

Each objective maps the labels an adversary tries to predict and the adversary's
logits to a per-example *penalty that the encoders minimise*; Eq. 1 adds it with
weight lambda to the task losses. The adversaries themselves always minimise their
cross-entropy (Eq. 2).

- ``maximize_cross_entropy`` (the paper): penalty ``-CE(y, Adv(z))``, so the encoders
  maximise the adversary's cross-entropy (plain minimax).
- ``uniform``: penalty ``CE(uniform, Adv(z))``, pushing the adversary's prediction
  towards the uniform distribution (maximum entropy). It is bounded below and cannot
  be satisfied by making the adversary confidently wrong.

Beyond the adversaries, :func:`conditional_hsic` measures how much one task's features
depend on another task's label *within each class of the features' own task*; Eq. 1
can add it as an independence penalty (``independence_weight`` of
:meth:`Disentangler.compile <disentangle_tf.models.Disentangler.compile>`). Unlike an
adversary it has no parameters to fool, and unlike an unconditional penalty it does
not ask the features to forget what their own label says about the other label.
"""

from __future__ import annotations

from keras import ops

from .defaults import BANDWIDTHS


def sparse_cross_entropy(labels, logits):
    """Per-example cross-entropy of integer labels under logits (float32)."""
    logits = ops.cast(logits, "float32")
    log_probabilities = ops.log_softmax(logits, axis=-1)
    one_hot = ops.one_hot(ops.cast(labels, "int32"), ops.shape(logits)[-1])
    return -ops.sum(one_hot * log_probabilities, axis=-1)


def maximize_cross_entropy(labels, logits):
    """The paper's term: the encoders maximise the adversary's cross-entropy."""
    return -sparse_cross_entropy(labels, logits)


def uniform(labels, logits):
    """Cross-entropy between the uniform distribution and the adversary's prediction."""
    del labels  # the target does not depend on the label
    log_probabilities = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    return -ops.mean(log_probabilities, axis=-1)


def _centred_gram_sum(kernel, other_kernel, mask):
    """``sum((H K H) * L)`` with ``H`` the centring matrix of the examples in ``mask``."""
    count = ops.maximum(ops.sum(mask), 1.0)
    # Centre K over the masked examples only; rows and columns outside the mask vanish.
    masked = kernel * mask[:, None] * mask[None, :]
    row_means = ops.sum(masked, axis=1) / count
    total_mean = ops.sum(masked) / (count * count)
    centred = (masked - row_means[:, None] * mask[None, :] - row_means[None, :] * mask[:, None]
               + total_mean * mask[:, None] * mask[None, :])
    return ops.sum(centred * other_kernel)


def squared_distances(features):
    """``(N, N)`` squared Euclidean distances between the rows of ``features`` (N, ...)."""
    features = ops.cast(ops.reshape(features, (ops.shape(features)[0], -1)), "float32")
    norms = ops.sum(features * features, axis=1)
    return ops.maximum(norms[:, None] + norms[None, :] - 2.0 * ops.matmul(features, ops.transpose(features)), 0.0)


def _masked_median(squared, mask):
    """Median of ``squared[a, b]`` over the pairs ``a, b`` in ``mask`` (diagonal included)."""
    pair_mask = mask[:, None] * mask[None, :]
    # Pairs outside the mask sort last; the median of the n_c**2 pairs sits n_c**2 // 2 in.
    largest = ops.max(squared) + 1.0
    ordered = ops.sort(ops.reshape(ops.where(pair_mask > 0, squared, largest), (-1,)))
    count = ops.cast(ops.sum(mask), "int32")
    return ops.take(ordered, (count * count) // 2)


def gaussian_kernel(features):
    """Gaussian kernel matrix of ``features`` (N, D) with the median-heuristic bandwidth.

    The bandwidth ``sigma**2`` is the median squared distance between two different
    examples of the batch, held constant for differentiation.
    """
    return _batch_median_kernel(squared_distances(features))


def _batch_median_kernel(squared):
    """``exp(-squared / (2 sigma**2))`` with ``sigma**2`` the off-diagonal median of ``squared``."""
    count = ops.shape(squared)[0]
    # The N diagonal zeros sort first: the off-diagonal median sits N + N (N - 1) / 2 in.
    ordered = ops.sort(ops.reshape(squared, (-1,)))
    median = ordered[count + (count * count - count) // 2]
    bandwidth = ops.stop_gradient(ops.maximum(median, 1e-6))
    return ops.exp(-squared / (2.0 * bandwidth))


#: A class enters the conditional HSIC only with more than this many examples in the batch.
MIN_CLASS_COUNT = 3


def conditional_hsic(features, other_labels, own_labels, num_own_classes: int, num_other_classes: int,
                     bandwidth: str = "class", mask=None):
    """Class-conditional HSIC between features and another task's label.

    Within each class ``c`` of the features' own task with ``n_c > 3`` examples in the
    batch, the biased HSIC estimate ``tr(K H L H) / (n_c - 1)**2`` between the features
    (Gaussian kernel ``K``) and the other task's label (delta kernel
    ``L_ab = [y_a == y_b]``) over those ``n_c`` examples; the result is the sum over
    classes. It is zero when, within every own class, the features carry no
    information about the other label, even if the two labels are correlated (as they
    are in the synthetic training split).

    The kernel's bandwidth ``sigma**2`` (held constant for differentiation) is, with
    ``bandwidth="class"``, the median squared distance between the ``n_c`` examples of
    the class (the ``n_c**2`` pairs, diagonal included), so the kernel resolves
    distances *within* the class. ``"batch"`` takes the median over the whole batch:
    once the task is learnt, between-class distances dominate it, the kernel is nearly
    flat within a class and the penalty and its gradient nearly vanish; it is kept for
    comparison.

    Args:
        features: ``(N, D)`` features of one task (any float dtype; computed in float32).
        other_labels: ``(N,)`` integer labels of the other task.
        own_labels: ``(N,)`` integer labels of the features' own task.
        num_own_classes: classes of the own task (a Python int: the loop over classes
            is static).
        num_other_classes: classes of the other task.
        bandwidth: ``"class"`` or ``"batch"``, the median-heuristic's domain.
        mask: ``(N,)`` 1 for the examples to include, 0 for those to leave out (for
            example those missing a label); None includes all. Negative labels are
            always left out.

    Returns:
        A float32 scalar, >= 0 up to rounding, differentiable with respect to ``features``.

    Raises:
        ValueError: for an unknown ``bandwidth``.

    Reference: Gretton et al., "Measuring statistical dependence with Hilbert-Schmidt
    norms", ALT 2005 (HSIC and its biased estimate); the per-class conditioning
    follows Bahng et al., "Learning de-biased representations with biased
    representations" (ReBias), ICML 2020, in using HSIC as a trainable penalty.
    """
    if bandwidth not in BANDWIDTHS:
        raise ValueError(f"bandwidth must be one of {', '.join(BANDWIDTHS)}; got {bandwidth!r}")
    squared = squared_distances(features)
    batch_kernel = _batch_median_kernel(squared) if bandwidth == "batch" else None
    other = ops.one_hot(ops.cast(ops.reshape(other_labels, (-1,)), "int32"), int(num_other_classes))
    label_kernel = ops.matmul(other, ops.transpose(other))
    own = ops.one_hot(ops.cast(ops.reshape(own_labels, (-1,)), "int32"), int(num_own_classes))
    # one_hot of a negative label is all zeros: such examples fall out of every class.
    own = own * ops.cast(ops.reshape(other_labels, (-1, 1)) >= 0, own.dtype)
    if mask is not None:
        own = own * ops.cast(ops.reshape(mask, (-1, 1)), own.dtype)
    value = 0.0
    for c in range(int(num_own_classes)):
        mask = own[:, c]
        count = ops.sum(mask)
        if batch_kernel is None:
            sigma2 = ops.stop_gradient(ops.maximum(_masked_median(squared, mask), 1e-6))
            kernel = ops.exp(-squared / (2.0 * sigma2))
        else:
            kernel = batch_kernel
        estimate = _centred_gram_sum(kernel, label_kernel, mask) / ops.square(ops.maximum(count - 1.0, 1.0))
        value = value + ops.where(count > MIN_CLASS_COUNT, estimate, 0.0)
    return value


OBJECTIVES = {"maximize_cross_entropy": maximize_cross_entropy, "uniform": uniform}
"""The penalty function of each name of :data:`~disentangle_tf.models.defaults.ADVERSARIAL_OBJECTIVES`
(the same names: the run configuration reads them there, without TensorFlow)."""


def get_objective(name: str):
    """The penalty function called ``name``; ValueError naming the choices otherwise."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(
            f"adversarial_objective must be one of {', '.join(OBJECTIVES)}; got {name!r}"
        ) from None
