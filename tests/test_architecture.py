"""The shape of the house, checked: no import circles, imports only run down the layers, and nothing outside
``flows/datasets/`` branches on a dataset's name.

Every ``import`` in ``flows/`` counts -- at module level, inside functions, under TYPE_CHECKING -- because
each is a dependency a reader has to follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from flows.datasets import registry

FLOWS = Path(__file__).resolve().parents[1] / "flows"

# Lowest first. A module may import modules of its own layer or below, never above.
LAYERS: list[tuple[str, ...]] = [
    # foundations: import nothing else of flows
    ("flows.settings", "flows.calendars", "flows.availability", "flows.ops.progress"),
    ("flows.sources",),  # connectors, the sample generator, the fetch mechanics and registry
    ("flows.datasets",),  # what each dataset is; the registry
    ("flows.warehouse",),  # schema, upserts, audit, lock, dbt, publish
    ("flows.validation",),  # GX suites, quarantine
    ("flows.ingest",),  # extract -> land -> validate -> load; live extraction; where fetches run
    ("flows.ops", "flows.report"),  # summary, status, alerts, deployment; the HTML report
    ("flows.context", "flows.daily", "flows.cli"),  # the run, the Prefect flows, the command line
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(FLOWS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(path): ast.parse(path.read_text()) for path in sorted(FLOWS.rglob("*.py"))}


def _imports(name: str, tree: ast.Module, known: set[str]) -> set[str]:
    """The flows modules ``name`` imports (``from flows.x import y`` counts as flows.x.y when that is a module)."""
    found: set[str] = set()
    package = name if (FLOWS.parent / name.replace(".", "/") / "__init__.py").exists() else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("flows")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if not base.startswith("flows"):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
    return {module for module in found if module != name and module in known}


def _layer(module: str) -> int:
    for number, prefixes in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return number
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    # a package's __init__ is implied by importing its submodules; it is not a dependency of its own
    return {name: {m for m in _imports(name, tree, known) if m != "flows"} for name, tree in modules.items()}


def test_no_import_circles(graph: dict[str, set[str]]) -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
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
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert circles == []


def test_imports_run_down_the_layers(graph: dict[str, set[str]]) -> None:
    upward = sorted(
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in graph.items()
        for target in targets
        if _layer(target) > _layer(module)
    )
    assert upward == []


def test_foundations_import_nothing_else_of_flows(graph: dict[str, set[str]]) -> None:
    assert {module: graph[module] for module in LAYERS[0] if graph[module] - set(LAYERS[0])} == {}


def _branches_on(tree: ast.Module, names: set[str]) -> list[tuple[int, str]]:
    """Comparisons, ``in`` tests, match cases and dict keys that use a dataset name as a string constant."""
    found = []
    for node in ast.walk(tree):
        constants: list[ast.AST] = []
        if isinstance(node, ast.Compare):
            constants = [node.left, *node.comparators]
            constants += [element for side in constants if isinstance(side, ast.Tuple | ast.List | ast.Set)
                          for element in side.elts]  # fmt: skip
        elif isinstance(node, ast.match_case) and isinstance(node.pattern, ast.MatchValue):
            constants = [node.pattern.value]
        elif isinstance(node, ast.Dict):
            constants = [key for key in node.keys if key is not None]
        for constant in constants:
            if isinstance(constant, ast.Constant) and constant.value in names:
                found.append((constant.lineno, constant.value))
    return found


def test_nothing_outside_the_datasets_package_branches_on_a_dataset_name() -> None:
    names = set(registry.names())
    offenders = {
        str(path.relative_to(FLOWS.parent)): hits
        for path in sorted(FLOWS.rglob("*.py"))
        if "datasets" not in path.relative_to(FLOWS).parts
        for hits in [_branches_on(ast.parse(path.read_text()), names)]
        if hits
    }
    assert offenders == {}


def test_the_branch_detector_finds_a_branch() -> None:
    """The check above can fail: it sees ``dataset == 'prices'``, ``in ('cpi', ...)``, match cases and dict keys."""
    code = (
        "if dataset == 'prices': pass\n"
        "x = name in ('cpi', 'other')\n"
        "table = {'fx_rates': 1}\n"
        "match dataset:\n    case 'policy_events': pass\n"
    )
    hits = _branches_on(ast.parse(code), set(registry.names()))
    assert sorted(value for _, value in hits) == ["cpi", "fx_rates", "policy_events", "prices"]
