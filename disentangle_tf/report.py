"""``python -m disentangle_tf.report``: runs :func:`disentangle_tf.cli.report.main`.

The command lives in :mod:`disentangle_tf.cli.report`; this module is its entry point.
"""

from .cli.common import run_command
from .cli.report import main

if __name__ == "__main__":
    run_command(main, prog_name="python -m disentangle_tf.report")
