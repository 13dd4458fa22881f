"""``python -m disentangle_tf.convert``: runs :func:`disentangle_tf.cli.convert.main`.

The command lives in :mod:`disentangle_tf.cli.convert`; this module is its entry point.
"""

from .cli.common import run_command
from .cli.convert import main

if __name__ == "__main__":
    run_command(main, prog_name="python -m disentangle_tf.convert")
