"""Sphinx configuration of the disentangle_tf documentation."""

from __future__ import annotations

import dataclasses
import os
import sys

# Silence TensorFlow's C++ start-up logging before the package (and TensorFlow) is
# imported by autodoc.
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

sys.path.insert(0, os.path.abspath(".."))

import disentangle_tf  # noqa: E402
from disentangle_tf.run.config import RunConfig  # noqa: E402
from disentangle_tf.data import synthetic  # noqa: E402

# -- Project information ------------------------------------------------------

project = "disentangle_tf"
author = "disentangle_tf authors"
copyright = "2019-2025, disentangle_tf authors"
release = disentangle_tf.__version__
version = ".".join(release.split(".")[:2])

# -- General configuration ----------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",
    # MathJax bundled into the build (_static/mathjax/) instead of loaded from a CDN:
    # the maths renders for a reader without a network. Sets ``mathjax_path``.
    "sphinx-mathjax-offline",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
nitpicky = False

# autodoc: the package is importable, nothing is mocked. Members are documented in the
# order of the source, and only with the package's own docstrings (not the ones
# inherited from keras.Model).
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = False
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
# No default "members": each directive names the members it documents (a default of
# True would override those lists and document every public name of a module).
autodoc_default_options = {"show-inheritance": True}
autoclass_content = "class"

# napoleon: Google-style docstrings only.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# -- HTML output --------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"disentangle_tf {release}"
html_theme_options = {
    # Nothing is fetched from outside the build: no icon links, no version switcher,
    # no analytics.
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# The pages form one flat table of contents, shown in the header: no left sidebar.
html_sidebars = {"**": []}
html_static_path = ["_static"]
html_css_files = ["custom.css"]

# -- Values taken from the code ----------------------------------------------
# The defaults quoted in the prose and in the defaults table are read from
# disentangle_tf.run.config, so the documentation cannot drift from the code.

_DEFAULTS = RunConfig().to_flat_dict()


def _size(value) -> str:
    return " x ".join(str(v) for v in value)


def _flat_features(image_size, strides, filters) -> int:
    """Length of the flattened feature vector of the default encoder."""
    height, width = image_size
    for stride in strides:
        height, width = -(-height // stride), -(-width // stride)
    return height * width * filters[-1]


_FLAT = _flat_features(_DEFAULTS["image_size"], _DEFAULTS["encoder_strides"], _DEFAULTS["encoder_filters"])

rst_prolog = f"""
.. |default_image_size| replace:: {_size(_DEFAULTS["image_size"])}
.. |paper_image_size| replace:: {_size(synthetic.PAPER_IMAGE_SIZE)}
.. |default_epochs| replace:: {_DEFAULTS["epochs"]}
.. |default_batch_size| replace:: {_DEFAULTS["batch_size"]}
.. |default_adversary_steps| replace:: {_DEFAULTS["adversary_steps"]}
.. |default_adversarial_weight| replace:: {_DEFAULTS["adversarial_weight"]:g}
.. |default_flat_features| replace:: {_FLAT:,}
.. |default_head_units| replace:: {", ".join(str(u) for u in _DEFAULTS["head_units"])}
"""

# Where each default of RunConfig comes from. Keys are the flat configuration keys; a
# key missing here is shown as a choice of this package.
DEFAULT_SOURCES = {
    "dataset": "Experiment 1 of the paper (synthetic shapes).",
    "image_size": "Changed for CPU and measured (:ref:`changed-defaults`): a quarter of the "
    "paper's 224 x 288 on each side; at 32 x 40 the smallest circles are 3 px across and no "
    "method generalised. ``--image-size 224 288`` restores the paper's size.",
    "batch_size": "Paper and authors' code (50).",
    "flip": "Paper and authors' code (random left-right flips).",
    "seed": "Package choice.",
    "encoder_filters": "Paper: six residual blocks as in DLTK. Authors' code: "
    "units of 16, 32, 64 filters, each downsampling by 2; here two blocks per width.",
    "encoder_strides": "Authors' code: stride 2 at every new width.",
    "stem_filters": "Authors' code (3x3 convolution, 8 filters, no bias).",
    "activation": "Authors' code (leaky ReLU, slope 0.1); Fig. 2 of the paper draws ReLU.",
    "feature_pooling": "Changed and measured (:ref:`changed-defaults`): global average "
    "pooling; the authors' code flattens (``flatten``), which codes position and "
    "generalised less.",
    "head_units": (
        "Authors' code (one hidden layer of 256 units)."
        if tuple(_DEFAULTS["head_units"]) == (256,)
        else "Changed for CPU. The authors' heads have one hidden layer of 256 units."
    ),
    "l2_weight": "Authors' code (1e-5); the paper applies L2 to all weights, as here "
    "(convolution and dense kernels).",
    "epochs": "Changed for CPU. The authors' code runs 10,010 iterations (about 420 "
    "epochs of the 1,200 training images at batch 50).",
    "learning_rate": "Changed for CPU. Adam as in the paper; the authors use 1e-5 "
    "(beta1 0, beta2 0.9, eps 1e-5, kept here).",
    "adversary_learning_rate": "Changed for CPU. SGD with momentum as in the paper; the "
    "authors use 1e-5.",
    "adversary_momentum": "Authors' code (0.9).",
    "adversarial_weight": "Authors' code (lambda = 1e-2); the paper picks it per data set "
    "on validation data.",
    "adversary_steps": "Paper (five adversary steps per main step); the authors' code "
    "uses 3.",
    "adversary_batches": "Authors' code (every adversary step draws a new batch).",
    "adversarial_objective": "Paper (the encoders maximise the adversaries' "
    "cross-entropy).",
    "jit_compile": "Package choice (XLA off).",
    "sampling": "Paper (every image once per epoch); the train command's default method "
    "sets ``group_balanced``.",
    "independence_weight": "Not in the paper (0: off); the train command's default method "
    "sets it.",
    "independence_bandwidth": "Package choice: the median within each class (see above).",
    "independence_layers": "Package choice (the features only); the train command's "
    "default method sets ``blocks``.",
    "adversarial_training": "Paper (alternating updates).",
    "penalty_schedule": "Paper (a constant lambda).",
    "conditional_adversaries": "Paper (the adversaries read the features only).",
}


def _method_table(table: str = "") -> list[str]:
    """A list-table of every named method (``table`` "former": every row of the recorded
    comparisons' table): its settings beyond the neutral ones."""
    from disentangle_tf.experiments.former_methods import FORMER_METHODS
    from disentangle_tf.run.methods import METHODS, NEUTRAL

    lines = [".. list-table::", "   :header-rows: 1", "   :widths: 20 45 35", "",
             "   * - " + ("row" if table == "former" else "method"),
             "     - settings (beyond no penalty, alternating, uniform sampling)", "     - what it is"]
    for method in (FORMER_METHODS if table == "former" else METHODS).values():
        changed = {k: v for k, v in method.settings.items() if NEUTRAL.get(k) != v}
        text = ", ".join(f"``{k}={v}``" for k, v in changed.items()) or "(none)"
        if method.oracle:
            text += "; trains with the unseen combination"
        lines += [f"   * - ``{method.name}``", f"     - {text}", f"     - {method.description}"]
    return lines


def _format_default(value) -> str:
    if value in ("", (), []):
        return "(empty)"
    if isinstance(value, (list, tuple)):
        return "``" + " ".join(str(v) for v in value) + "``"
    if isinstance(value, float):
        return f"``{value:g}``"
    if isinstance(value, bool):
        return "``true``" if value else "``false``"
    return f"``{value}``"


def _defaults_table() -> list[str]:
    """The rows of a list-table of every RunConfig field, its default and its source."""
    from disentangle_tf.run.config import SECTIONS

    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 22 16 62",
        "",
        "   * - key",
        "     - default",
        "     - where it comes from",
    ]
    for section_cls in SECTIONS.values():
        for field in dataclasses.fields(section_cls):
            key = field.name
            lines += [
                f"   * - ``{key}``",
                f"     - {_format_default(_DEFAULTS[key])}",
                f"     - {DEFAULT_SOURCES.get(key, 'Package choice.')}",
            ]
    return lines


def _command_help(target: str) -> str:
    """The help text of the click command ``module:attribute``, every option shown (as
    ``--help-all`` shows them, where a command hides some from ``--help``)."""
    import importlib

    import click

    module_name, _, attribute = target.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    settings = {**command.context_settings, "terminal_width": 88, "max_content_width": 88}
    context = click.Context(command, info_name=f"python -m {module_name}", **settings)
    hidden = [parameter for parameter in command.params if getattr(parameter, "hidden", False)]
    for parameter in hidden:
        parameter.hidden = False
    try:
        return command.get_help(context)
    finally:
        for parameter in hidden:
            parameter.hidden = True


def _keras_signature(app, what, name, obj, options, signature, return_annotation):
    """Show the ``__init__`` arguments of Keras models and layers.

    ``keras.Model`` and ``keras.layers.Layer`` define ``__new__(cls, *args, **kwargs)``,
    which autodoc would otherwise show as the signature of every subclass.
    """
    import inspect

    import keras

    if what != "class" or not isinstance(obj, type):
        return None
    if not issubclass(obj, (keras.Model, keras.layers.Layer)):
        return None
    parameters = [
        parameter.replace(annotation=inspect.Parameter.empty)
        for parameter in list(inspect.signature(obj.__init__).parameters.values())[1:]
    ]
    return str(inspect.Signature(parameters)), return_annotation


def _import_dotted(dotted: str):
    """The object a dotted name ``package.module.attribute`` names, or None."""
    import importlib

    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute, None)
            if obj is None:
                return None
        return obj
    return None


def _documented_by_identity(env) -> dict:
    """``{id(object): documented name}`` of the package's documented modules, classes and functions."""
    import inspect

    cache = getattr(env, "_disentangle_documented", None)
    if cache is None:
        cache = {}
        for name, entry in env.get_domain("py").objects.items():
            if entry.aliased or not name.startswith("disentangle_tf"):
                continue
            obj = _import_dotted(name)
            if inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isfunction(obj):
                cache.setdefault(id(obj), name)
        env._disentangle_documented = cache
    return cache


def _resolve_reexport(app, env, node, contnode):
    """Resolve a reference to a public name through any path that imports it.

    ``disentangle_tf.Disentangler``, ``disentangle_tf.models.Disentangler`` and the
    defining module's path name one class; the API page documents it once, and a
    reference through another of its import paths links there.
    """
    from sphinx.util.nodes import make_refnode

    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("disentangle_tf."):
        return None
    obj = _import_dotted(target)
    if obj is None:
        return None
    name = _documented_by_identity(env).get(id(obj))
    if name is None:
        return None
    entry = env.get_domain("py").objects[name]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, name)


def _forget_documented(app, env):
    env._disentangle_documented = None


def setup(app):
    """Register the ``defaults-table``, ``options-table``, ``method-table`` and ``command-help``
    directives."""
    from docutils import nodes
    from docutils.parsers.rst import Directive
    from docutils.statemachine import StringList

    class DefaultsTable(Directive):
        has_content = False

        def run(self):
            container = nodes.container()
            self.state.nested_parse(
                StringList(_defaults_table(), source="conf.py:defaults-table"),
                self.content_offset,
                container,
            )
            return container.children

    class CommandHelp(Directive):
        """``.. command-help:: package.module:command``: the command's ``--help``."""

        required_arguments = 1
        has_content = False

        def run(self):
            text = _command_help(self.arguments[0])
            block = nodes.literal_block(text, text)
            block["language"] = "text"
            return [block]

    class MethodTable(Directive):
        """``.. method-table::``: the named methods; ``.. method-table:: former``: the rows of
        the recorded comparisons (disentangle_tf.experiments.former_methods)."""

        optional_arguments = 1
        has_content = False

        def run(self):
            container = nodes.container()
            table = self.arguments[0] if self.arguments else ""
            self.state.nested_parse(StringList(_method_table(table), source="conf.py:method-table"),
                                    self.content_offset, container)
            return container.children

    class OptionsTable(Directive):
        """``.. options-table::``: every configuration key, from disentangle_tf.run.options."""

        has_content = False

        def run(self):
            from disentangle_tf.run.option_text import options_table

            container = nodes.container()
            self.state.nested_parse(StringList(options_table(), source="conf.py:options-table"),
                                    self.content_offset, container)
            return container.children

    app.add_directive("defaults-table", DefaultsTable)
    app.add_directive("options-table", OptionsTable)
    app.add_directive("method-table", MethodTable)
    app.connect("autodoc-process-signature", _keras_signature)
    app.connect("missing-reference", _resolve_reexport)
    app.connect("env-updated", _forget_documented)
    app.add_directive("command-help", CommandHelp)
