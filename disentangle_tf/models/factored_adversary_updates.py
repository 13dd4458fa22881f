"""Same-batch adversary updates in factored form: :mod:`disentangle_tf.fast.factored_adversary_updates`,
importable from here too."""

from ..fast.factored_adversary_updates import factored_same_batch_updates, factored_updates_apply

__all__ = ["factored_same_batch_updates", "factored_updates_apply"]
