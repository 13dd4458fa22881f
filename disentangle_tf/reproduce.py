"""``python -m disentangle_tf.reproduce`` and ``disentangle-reproduce``: the entry points of its command."""

from .cli.common import console_script, run_program
from .cli.reproduce import main

#: The ``disentangle-reproduce`` console script (``setup.cfg``): the same command, errors and exit codes.
script = console_script(main, "disentangle-reproduce")

if __name__ == "__main__":
    run_program(main, prog_name="python -m disentangle_tf.reproduce")
