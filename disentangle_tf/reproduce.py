"""``python -m disentangle_tf.reproduce``: runs :func:`disentangle_tf.cli.reproduce.main`.

The command lives in :mod:`disentangle_tf.cli.reproduce`; this module is its entry point.
"""

from .cli.common import run_command
from .cli.reproduce import main

if __name__ == "__main__":
    run_command(main, prog_name="python -m disentangle_tf.reproduce")
