"""The package's layers: no import runs back up a layer, and no import circle.

Every module of ``vidstyle`` is parsed (not imported), and every import it
makes counts: at the top, inside functions and under ``TYPE_CHECKING``
alike, since a lazy import that runs back up is still an arrow the wrong
way. The layers, lowest first (design.md, "Shape of the package"):

    0  errors, files, faults, invocation, timecode, cutlist, networks, config
    1  model, temporal, video
    2  methods
    3  pipeline
    4  cli, __main__, web

A module may import its own layer and the ones below. Within a layer any
import is allowed, as long as no circle forms anywhere in the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.mediatools import REPO_ROOT

PACKAGE = REPO_ROOT / "vidstyle"

LAYERS = {
    "errors": 0,
    "files": 0,
    "written": 0,
    "faults": 0,
    "invocation": 0,
    "cutlist": 0,
    "timecode": 0,
    "networks": 0,
    "config": 0,
    "model": 1,
    "temporal": 1,
    "video": 1,
    "methods": 2,
    "pipeline": 3,
    "cli": 4,
    "web": 4,  # the page's server: the CLI's peer, a front end over the pipeline
    "__main__": 4,
}

# Deliberate exceptions, as (importer, imported) with the reason. None today.
ALLOWED_BACK_ARROWS: dict[tuple[str, str], str] = {}
ALLOWED_CYCLES: dict[frozenset[str], str] = {}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported vidstyle module: line of the first such import}."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for module, path in modules.items():
        edges = graph.setdefault(module, {})
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against the importing package
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                # "from vidstyle.pipeline import ray_executor" imports the submodule
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for name in names:
                if not name.startswith("vidstyle"):
                    continue
                target = resolve(name)
                if target is not None and target not in (module, "vidstyle"):
                    edges.setdefault(target, node.lineno)
    return graph


def layer(module: str) -> int:
    parts = module.split(".")
    assert len(parts) > 1 and parts[1] in LAYERS, f"{module} is in no layer; add its top-level name to LAYERS in {__file__}"
    return LAYERS[parts[1]]


def back_arrows(graph: dict[str, dict[str, int]]) -> list[str]:
    found = []
    for module, edges in sorted(graph.items()):
        if module == "vidstyle":
            continue
        for target, line in sorted(edges.items()):
            if layer(target) > layer(module) and (module, target) not in ALLOWED_BACK_ARROWS:
                found.append(f"{module}:{line} imports {target} (layer {layer(module)} -> {layer(target)})")
    return found


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
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
            if len(component) > 1 and frozenset(component) not in ALLOWED_CYCLES:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_lazy_and_type_only_imports():
    graph = import_graph()
    assert "vidstyle.pipeline.ray_executor" in graph["vidstyle.pipeline.workers"]  # imported inside functions only
    assert "vidstyle.config" in graph["vidstyle.model.weights"]


def test_no_import_runs_back_up_a_layer():
    assert back_arrows(import_graph()) == []


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_the_checks_find_what_they_look_for():
    graph = {
        "vidstyle.config": {"vidstyle.pipeline.shots": 3},
        "vidstyle.pipeline.shots": {"vidstyle.temporal.flow": 5},
        "vidstyle.temporal.flow": {"vidstyle.config": 7},
    }
    assert back_arrows(graph) == ["vidstyle.config:3 imports vidstyle.pipeline.shots (layer 0 -> 3)"]
    assert cycles(graph) == [["vidstyle.config", "vidstyle.pipeline.shots", "vidstyle.temporal.flow"]]
