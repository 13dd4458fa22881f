"""``python -m disentangle_tf.train`` and ``disentangle-train``: the entry points of its command."""

from .cli.common import console_script, run_program
from .cli.train import main

#: The ``disentangle-train`` console script (``setup.cfg``): the same command, errors and exit codes.
script = console_script(main, "disentangle-train")

if __name__ == "__main__":
    run_program(main, prog_name="python -m disentangle_tf.train")
