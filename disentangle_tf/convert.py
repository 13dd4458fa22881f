"""``python -m disentangle_tf.convert`` and ``disentangle-convert``: the entry points of its command."""

from .cli.common import console_script, run_program
from .cli.convert import main

#: The ``disentangle-convert`` console script (``setup.cfg``): the same command, errors and exit codes.
script = console_script(main, "disentangle-convert")

if __name__ == "__main__":
    run_program(main, prog_name="python -m disentangle_tf.convert")
