"""``python -m disentangle_tf.predict``: runs :func:`disentangle_tf.cli.predict.main`.

The command lives in :mod:`disentangle_tf.cli.predict`; this module is its entry point.
"""

from .cli.common import run_command
from .cli.predict import main

if __name__ == "__main__":
    run_command(main, prog_name="python -m disentangle_tf.predict")
