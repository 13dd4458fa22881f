"""The package's structure: imports flow one way, down a declared order of layers.

Every module of ``disentangle_tf`` is parsed (not imported) and every import it makes,
at module level or inside a function, is an edge of the package's import graph. The
graph must have no cycle, and no module may import one of a higher layer than its own.
Modules of the same layer may import each other (the cycle check keeps that one way).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = "disentangle_tf"
ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / PACKAGE

#: The layers, lowest first: ``(name, module prefixes relative to the package)``. A
#: module belongs to the layer of its longest matching prefix ("data" matches
#: ``data`` and ``data.*``). docs/architecture.rst describes them.
LAYERS = [
    ("base", ["errors", "task_spec", "lazy", "cpus", "replicas"]),
    ("fast paths", ["fast"]),
    ("data", ["data"]),
    ("models", ["models", "optimizers"]),
    ("evaluation", ["evaluation", "export"]),
    ("run", ["run"]),
    ("selection", ["selection"]),
    ("experiments", ["experiments"]),
    ("command lines", ["cli", "train", "predict", "convert", "reproduce", "report", "__main__"]),
    ("former paths", ["forward", "scores", "plots", "probes", "backup", "callbacks", "config", "config_values",
                      "console", "datasets", "distribution", "methods", "outputs", "run_settings", "summaries",
                      "threads", "training", "weight_averaging"]),
    ("package", [""]),  # disentangle_tf/__init__.py alone
]

#: Longest module, in lines: a hint to look for a second concept, never a reason to split one
#: class into parts that share private state (the model class is the longest).
MAX_LINES = 420


def _modules() -> dict[str, pathlib.Path]:
    modules = {}
    for path in sorted(SOURCE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(name: str, path: pathlib.Path, modules) -> dict[str, int]:
    """Package modules ``name`` imports, each with the first line importing it."""
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}

    def add(target: str, line: int):
        while target not in modules and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in modules and target != name:
            found.setdefault(target, line)

    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - (node.level - 1) - (0 if is_package else 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                add(candidate if candidate in modules else target, node.lineno)
    return found


MODULES = _modules()
GRAPH = {name: _imports(name, path, MODULES) for name, path in MODULES.items()}


def layer_of(module: str) -> int:
    """Index in :data:`LAYERS` of the layer ``module`` belongs to."""
    relative = module[len(PACKAGE) + 1:] if module != PACKAGE else ""
    best, best_length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            matches = relative == prefix or (prefix and relative.startswith(prefix + "."))
            if matches and len(prefix) > best_length:
                best, best_length = index, len(prefix)
    return best


def _cycles(graph) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_parser_sees_every_kind_of_import():
    # Checked on the package itself: a relative import inside a function, one of a
    # sibling module by ``from . import``, and an absolute one.
    assert "disentangle_tf.evaluation.forward" in GRAPH["disentangle_tf.evaluation.probes"]
    assert "disentangle_tf.data.synthetic" in GRAPH["disentangle_tf.run.datasets"]
    assert "disentangle_tf.models.disentangler" in GRAPH["disentangle_tf.evaluation.forward"]
    assert _cycles({"a": {"b": 1}, "b": {"a": 1}, "c": {}}) == [["a", "b"]]


def test_every_module_has_a_layer():
    assert all(layer_of(module) is not None for module in MODULES)
    assert LAYERS[layer_of("disentangle_tf.data.us_sim.scene")][0] == "data"
    assert LAYERS[layer_of("disentangle_tf.models.disentangler")][0] == "models"
    assert LAYERS[layer_of("disentangle_tf")][0] == "package"


def test_no_import_cycle():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_imports_go_down_the_layers():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]}) "
        f"at line {line}"
        for module, targets in sorted(GRAPH.items())
        for target, line in sorted(targets.items())
        if layer_of(target) > layer_of(module)
    ]
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


@pytest.mark.parametrize("layer", ["data", "models"])
def test_data_and_models_import_no_run_configuration(layer):
    # The library layers take plain arguments; the run layer maps a configuration onto them.
    offending = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items() if LAYERS[layer_of(module)][0] == layer
        for target in targets if target == f"{PACKAGE}.run.config" or layer_of(target) == layer_of(f"{PACKAGE}.cli")
    ]
    assert not offending, offending


def test_no_module_is_longer_than_the_limit():
    paths = list(MODULES.values()) + sorted((ROOT / "benchmarks").glob("*.py"))
    long = {str(path.relative_to(ROOT)): n for path in paths if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


# === Private names stay in their module ===

#: The public interface of ``collections.namedtuple`` (underscored so as not to clash with fields).
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make"}


def _guarded_framework_names() -> set[str]:
    """The private Keras / TensorFlow names the package may read: those tests/test_private_names.py
    checks still exist (every quoted ``"_name"`` in it), so that a Keras release without one fails there."""
    tree = ast.parse((ROOT / "tests" / "test_private_names.py").read_text())
    return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value.startswith("_") and not node.value.startswith("__") and node.value.isidentifier()}


def _private_names(tree) -> tuple[set[str], list[tuple[int, str]]]:
    """The private names a module defines (functions, classes, assigned names and attributes) and
    the private attributes it reads or writes, with their lines."""
    defined, used = set(), []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Attribute):
                        defined.add(sub.attr)
                    elif isinstance(sub, ast.Name):
                        defined.add(sub.id)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            used.append((node.lineno, node.attr))
    return defined, used


def test_private_names_stay_in_the_module_that_defines_them():
    """No module reads or writes a private attribute (``x._name``, ``self._name``) defined in
    another module, the model's mixins included: what they share is public and documented.
    Only Keras's and TensorFlow's private names that a guard test checks are read from outside."""
    allowed = _guarded_framework_names() | NAMEDTUPLE_API
    foreign = []
    for name, path in _modules().items():
        defined, used = _private_names(ast.parse(path.read_text()))
        foreign += [f"{name}:{line} {attr}" for line, attr in used if attr not in defined and attr not in allowed]
    assert not foreign, f"private names read or written outside their module: {foreign}"


def test_the_private_name_check_sees_a_mixin_reading_another_modules_state():
    """The check's parser finds what the rule is about: ``self._x`` read where only another
    module assigns it, and not a private name the module assigns itself."""
    reader = ast.parse("class A:\n    def f(self):\n        return self._shared + self._own\n"
                       "    def g(self):\n        self._own = 1\n")
    defined, used = _private_names(reader)
    assert [attr for _, attr in used if attr not in defined] == ["_shared"]
