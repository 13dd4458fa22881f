"""The paper's experiments: methods compared over seeds, and the tables that report them.

:mod:`~disentangle_tf.experiments.reproduce` trains and scores the methods;
:mod:`~disentangle_tf.experiments.report` writes and merges their results.
"""
