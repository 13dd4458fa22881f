"""README.rst and the CI script stay in step."""

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.rst").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    test_line = next(line.strip() for line in readme.splitlines() if "pytest" in line and "pip install" in line)
    command = test_line.split("&& pip install", 1)[1]
    assert ("pip install" + command) in ci, (command, ci)
    # ... and the tests that command leaves out.
    assert "python -m pytest -q -m slow" in ci
    assert "python -m disentangle_tf.train --dataset synthetic" in readme
