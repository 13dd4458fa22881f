"""``python -m disentangle_tf.predict`` and ``disentangle-predict``: the entry points of its command."""

from .cli.common import console_script, run_program
from .cli.predict import main

#: The ``disentangle-predict`` console script (``setup.cfg``): the same command, errors and exit codes.
script = console_script(main, "disentangle-predict")

if __name__ == "__main__":
    run_program(main, prog_name="python -m disentangle_tf.predict")
