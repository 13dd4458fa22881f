"""``python -m disentangle_tf.train``: runs :func:`disentangle_tf.cli.train.main`.

The command lives in :mod:`disentangle_tf.cli.train`; this module is its entry point.
"""

from .cli.common import run_command
from .cli.train import main

if __name__ == "__main__":
    run_command(main, prog_name="python -m disentangle_tf.train")
