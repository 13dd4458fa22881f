"""Every module imports under ``python -OO`` (docstrings stripped) and the Keras classes register: no code reads a docstring."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_every_module_imports_without_docstrings():
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in (ROOT / "disentangle_tf").rglob("*.py")
        if path.name != "__main__.py"
    )
    # ... and the Keras classes register (what loading a saved model needs).
    script = ("import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
              "import disentangle_tf, keras\ndisentangle_tf.register_keras_classes()\n"
              "print('imported', keras.saving.get_registered_object('disentangle_tf>Disentangler').__name__)")
    result = subprocess.run([sys.executable, "-OO", "-c", script, *modules], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-2:] == ["imported", "Disentangler"]
    assert len(modules) > 80
