"""Performance benchmarks of ``disentangle_tf``: ``python -m benchmarks.run``.

See ``docs/performance.rst`` for what is measured and the results on a reference
machine. ``python -m benchmarks.profile`` times the candidate optimisations of the
training step against each other.
"""

# The package sets TensorFlow's CPU options (oneDNN kernels) before TensorFlow loads;
# importing it first measures the package as users run it.
import disentangle_tf  # noqa: E402,F401
