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
"""

from __future__ import annotations

from keras import ops


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


OBJECTIVES = {
    "maximize_cross_entropy": maximize_cross_entropy,
    "uniform": uniform,
}


def get_objective(name: str):
    """The penalty function called ``name``; ValueError naming the choices otherwise."""
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(
            f"adversarial_objective must be one of {', '.join(OBJECTIVES)}; got {name!r}"
        ) from None
