"""A training run and its settings: configuration, data sets, training, callbacks, outputs.

The run layer maps a :class:`~disentangle_tf.run.config.RunConfig` onto the library
layers (:mod:`disentangle_tf.data`, :mod:`disentangle_tf.models`,
:mod:`disentangle_tf.evaluation`) and writes a run's directory. Its modules that only
read settings import no TensorFlow, so that the commands check their input first.
"""
