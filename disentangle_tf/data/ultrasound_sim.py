"""Simulated fetal ultrasound ("us-sim"), after Experiment 2 of Meng et al. (2019).

The simulator lives in :mod:`disentangle_tf.data.us_sim` (geometry, anatomy, shadows,
image formation, splits); this module keeps its public names importable from here.
"""

from .us_sim import *  # noqa: F401,F403
from .us_sim import __all__  # noqa: F401
