"""``python -m disentangle_tf.report`` and ``disentangle-report``: the entry points of its command."""

from .cli.common import console_script, run_program
from .cli.report import main

#: The ``disentangle-report`` console script (``setup.cfg``): the same command, errors and exit codes.
script = console_script(main, "disentangle-report")

if __name__ == "__main__":
    run_program(main, prog_name="python -m disentangle_tf.report")
