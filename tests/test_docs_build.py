"""The documentation's settings that a reader relies on, checked without building the site.

Continuous integration builds the site with warnings as errors; these tests only read
``docs/conf.py`` (parsed, not executed, so neither Sphinx nor TensorFlow is loaded) and
``setup.cfg``, and draw one small sample figure:

- the theme is pydata-sphinx-theme, and the ``docs`` extra installs it;
- MathJax is bundled into the build (``sphinx-mathjax-offline``), and no file the pages
  load comes from another host, so the maths renders without a network;
- the style sheet that lets long code lines scroll is in ``docs/_static``;
- the sample-image figures show each image in grey levels, rescaled to [0, 1].
"""

from __future__ import annotations

import ast
import configparser
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

OFFLINE_MATHS = "sphinx-mathjax-offline"


def _conf_literals() -> dict:
    """The top-level assignments of docs/conf.py whose values are Python literals."""
    tree = ast.parse((DOCS / "conf.py").read_text(encoding="utf-8"))
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    values[target.id] = ast.literal_eval(value)
                except ValueError:  # not a literal (an f-string, a call)
                    pass
    return values


def _docs_requirements() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg", encoding="utf-8")
    text = parser["options.extras_require"]["docs"]
    return [line.strip() for line in text.splitlines() if line.strip()]


def _names(requirements) -> set[str]:
    return {r.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip().lower()
            for r in requirements}


def test_theme_is_pydata_and_installed_by_the_docs_extra():
    conf = _conf_literals()
    assert conf["html_theme"] == "pydata_sphinx_theme"
    assert "pydata-sphinx-theme" in _names(_docs_requirements())


def test_maths_is_bundled_into_the_build():
    conf = _conf_literals()
    extensions = conf["extensions"]
    assert "sphinx.ext.mathjax" in extensions
    assert OFFLINE_MATHS in extensions
    # The bundling extension must come after sphinx.ext.mathjax, whose path it replaces.
    assert extensions.index(OFFLINE_MATHS) > extensions.index("sphinx.ext.mathjax")
    assert "sphinx.ext.imgmath" not in extensions
    assert OFFLINE_MATHS in _names(_docs_requirements())


def test_no_page_asset_comes_from_another_host():
    conf = _conf_literals()
    # mathjax_path left unset: sphinx-mathjax-offline points it into _static/mathjax.
    assert "mathjax_path" not in conf
    for key in ("html_js_files", "html_css_files"):
        for entry in conf.get(key, []):
            name = entry[0] if isinstance(entry, (list, tuple)) else entry
            assert "://" not in name and not name.startswith("//"), f"{key}: {name}"
    tree = ast.parse((DOCS / "conf.py").read_text(encoding="utf-8"))
    remote = [node.value for node in ast.walk(tree)
              if isinstance(node, ast.Constant) and isinstance(node.value, str)
              and "//" in node.value and node.value.rstrip("/").endswith((".js", ".css", ".woff", ".woff2"))]
    assert not remote


def test_custom_style_sheet_lets_code_scroll():
    conf = _conf_literals()
    assert "_static" in conf["html_static_path"]
    for name in conf["html_css_files"]:
        css = (DOCS / "_static" / name).read_text(encoding="utf-8")
        assert "://" not in css  # no font or style sheet from elsewhere
    css = (DOCS / "_static" / "custom.css").read_text(encoding="utf-8")
    assert "overflow-x: auto" in css


def test_extension_bundles_mathjax_when_installed():
    """With the docs extra installed, the extension points MathJax at a local file it ships."""
    import importlib
    import types

    try:
        extension = importlib.import_module(OFFLINE_MATHS)
    except ImportError:
        pytest.skip("the docs extra (sphinx-mathjax-offline) is not installed")
    app = types.SimpleNamespace(config=types.SimpleNamespace(), connect=lambda *args: None)
    extension.setup(app)
    path = app.config.mathjax_path
    assert "://" not in path and not path.startswith("/")
    bundled = pathlib.Path(extension.__file__).parent / "static" / "mathjax" / path.split("mathjax/", 1)[1]
    assert bundled.is_file()


def test_sample_figure_shows_standardised_images_in_grey_levels(tmp_path):
    """A z-scored white image with a black square is drawn white and black, in greys only."""
    from PIL import Image

    from disentangle_tf.data.labelled_images import LabelledImages
    from disentangle_tf.evaluation.plots import plot_group_samples

    raw = np.ones((1, 32, 40, 1), np.float32)
    raw[0, 8:24, 10:30] = 0.0
    standardised = (raw - raw.mean()) / raw.std()  # values about -1.7 and 0.6
    images = LabelledImages(standardised, {"shape": np.zeros(1, np.int64)}, groups=np.array(["square-white"]))
    path = plot_group_samples({"train": images}, tmp_path / "samples.png", per_group=1)

    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert (pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all()
    height, width = pixels.shape[:2]
    centre = pixels[height // 2 - 3:height // 2 + 3, width // 2 - 3:width // 2 + 3, 0]
    assert centre.max() <= 5  # the square: the image's minimum drawn black
    # The background: the image's maximum drawn white, on the page's white, with a frame.
    row = pixels[height // 2, :, 0]
    dark = np.flatnonzero(row < 250)
    assert row[dark[0] + 3] >= 250  # white image background just inside the frame
    assert 100 <= row[dark[0]] < 250  # the grey frame, not black
