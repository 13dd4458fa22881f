"""Performance benchmarks of ``disentangle_tf``: ``python -m benchmarks.run``.

See ``docs/performance.rst`` for what is measured and the results on a reference
machine. ``python -m benchmarks.profile`` times the candidate optimisations of the
training step against each other.
"""

# TensorFlow's CPU options (oneDNN kernels) as the commands set them, before TensorFlow
# loads, so that the package is measured as users run it.
from disentangle_tf.fast.onednn import prefer_onednn  # noqa: E402

prefer_onednn()
