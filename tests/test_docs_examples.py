"""The Python examples of the documentation's how-to pages run as written."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
PAGES = ["own_encoder.rst", "serving.rst"]


def python_blocks(page: pathlib.Path) -> list[str]:
    """The ``.. code-block:: python`` blocks of a page, dedented."""
    blocks = []
    for match in re.finditer(r"^\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)", page.read_text(), re.M):
        blocks.append("\n".join(line[3:] for line in match.group(1).splitlines()))
    return blocks


@pytest.mark.parametrize("page", PAGES)
def test_the_example_of_the_page_runs(page, tmp_path):
    blocks = python_blocks(DOCS / page)
    assert blocks, f"{page} has no Python example"
    script = tmp_path / "example.py"
    script.write_text("\n\n".join(blocks))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    if page == "serving.rst":
        lines = result.stdout.splitlines()
        assert lines[0].startswith("[") and all(name in ("3VV", "LVOT", "Abd") for name in eval(lines[0]))
        assert lines[1].startswith("refused:") and "expected shape [?,32,40,1]" in lines[1]
