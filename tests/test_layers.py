"""Import layers: every galaxybench module imports only from its own layer or below, without cycles.

The layer order is the one in docs/architecture.md. The walk reads every ``import`` statement with
``ast`` (imports inside functions included), so a lazy upward import counts as much as one at the
top of a file.

Usage: ``pytest tests/test_layers.py -q``
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "galaxybench"

# Bottom to top (docs/architecture.md). A module may import modules of its own layer or below.
LAYERS: list[set[str]] = [
    {"errors", "paths", "io", "signals"},
    {
        "config",
        "config_checks",
        "config_sections",
        "config_tree",
        "registry",
        "results",
        "protocol",
        "cache",
        "budget",
        "samples",
    },
    {"images"},
    {"data", "metrics"},
    {"stages"},
    {"trial"},
    {"sweep", "cluster"},
    {"report", "cli", "api"},
]
# The entry points may import anything.
TOP = {"cli", "api", "__main__", "__init__"}
# Third-party names a layer must not import, whatever it imports from galaxybench.
FORBIDDEN_EXTERNAL = {"report": {"torch", "torchvision", "torch_fidelity", "ray"}}
# Ray is imported by this package (its modules: session, trainable, callbacks, search, tuner)
# and by no other module.
RAY_PACKAGE = "galaxybench.sweep.ray_backend"
# Upward imports waiting to be moved: none. An entry here would be a known exception, and
# test_known_upward_imports_still_exist fails for one that is no longer needed.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (type-only imports run never)."""
    nodes: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        nodes.append(node)
        for child in ast.iter_child_nodes(node):
            test = getattr(child, "test", None)
            if isinstance(child, ast.If) and ast.unparse(test).endswith("TYPE_CHECKING"):
                todo.extend(child.orelse)
                continue
            todo.append(child)
    return nodes


def _imports(path: Path, module: str) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # ``from galaxybench.stages import upscale_bicubic`` imports a submodule.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path, name) if m in modules}
        graph[name] |= {m for m in _imports(path, name) if m.split(".")[0] != "galaxybench"}
    return graph


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(module: str) -> int:
    top = _top(module)
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index
    raise AssertionError(f"{module}: {top!r} is in no layer of tests/test_layers.py; add it")


GRAPH = _graph()
INTERNAL = {m: {d for d in deps if d.startswith("galaxybench")} for m, deps in GRAPH.items()}


def test_every_module_has_a_layer() -> None:
    for module in INTERNAL:
        if _top(module) not in TOP:
            _layer(module)


def test_imports_point_down() -> None:
    upward = [
        f"{module} ({_top(module)}) imports {dep} ({_top(dep)})"
        for module, deps in INTERNAL.items()
        if _top(module) not in TOP
        for dep in deps
        if _top(dep) not in TOP
        and _layer(dep) > _layer(module)
        and (module, dep) not in KNOWN_UPWARD
    ]
    upward += [
        f"{module} imports {dep}"
        for module, deps in INTERNAL.items()
        if _top(module) != "__main__"
        for dep in deps
        if _top(dep) in {"cli", "__main__"} and _top(module) != "cli"
    ]
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_known_upward_imports_still_exist() -> None:
    gone = sorted(pair for pair in KNOWN_UPWARD if pair[1] not in INTERNAL.get(pair[0], set()))
    assert not gone, f"no longer imported, remove from KNOWN_UPWARD: {gone}"


def test_report_imports_no_trial_stages_or_torch() -> None:
    bad = [
        f"{module} imports {dep}"
        for module, deps in GRAPH.items()
        if _top(module) == "report"
        for dep in deps
        if (_top(dep) in {"trial", "stages", "sweep"} and dep.startswith("galaxybench."))
        or dep.split(".")[0] in FORBIDDEN_EXTERNAL["report"]
    ]
    assert not bad, "\n".join(sorted(bad))


def _in_ray_package(module: str) -> bool:
    return module == RAY_PACKAGE or module.startswith(RAY_PACKAGE + ".")


def test_only_the_ray_backend_imports_ray() -> None:
    importers = {m for m, deps in GRAPH.items() if any(d.partition(".")[0] == "ray" for d in deps)}
    outside = sorted(m for m in importers if not _in_ray_package(m))
    assert not outside, f"import Ray outside {RAY_PACKAGE}: {outside}"
    # The package is where Ray lives: its modules other than __init__ import it.
    package = sorted(m for m in GRAPH if _in_ray_package(m) and m != RAY_PACKAGE)
    assert package and importers == set(package), (package, sorted(importers))


def test_no_import_cycle() -> None:
    # Depth-first search with colours; a grey node met again closes a cycle. A package imports its
    # own submodules (``stages/__init__`` lists them) and ``from galaxybench.stages import x``
    # names the package on the way to ``x``: edges between a module and its own packages are
    # Python's normal package initialisation, not cycles of meaning, and are left out.
    def related(a: str, b: str) -> bool:
        return a == b or a.startswith(b + ".") or b.startswith(a + ".")

    edges = {m: {d for d in deps if not related(m, d)} for m, deps in INTERNAL.items()}
    colour: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        colour[node] = 1
        for dep in sorted(edges.get(node, ())):
            if colour.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep] if dep in stack else [node, dep])
            elif dep not in colour:
                visit(dep, [*stack, dep])
        colour[node] = 2

    for module in sorted(edges):
        if module not in colour:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from galaxybench import stages\n    import torch\n")
    found = _imports(source, "galaxybench.report.mod")
    assert {"galaxybench", "galaxybench.stages", "torch"} <= found
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n"
        "from . import style\n"
    )
    assert _imports(source, "galaxybench.report.mod") == {
        "typing",
        "typing.TYPE_CHECKING",
        "galaxybench.report",
        "galaxybench.report.style",
    }


@pytest.mark.parametrize(
    "module",
    [
        "galaxybench",
        "galaxybench.sweep",
        "galaxybench.report",
        "galaxybench.config",
        "galaxybench.protocol",
        "galaxybench.results",
    ],
)
def test_light_modules_do_not_load_torch(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "bad = sorted(m for m in ('torch', 'ray', 'galaxybench.stages', 'galaxybench.trial') "
        "if m in sys.modules); print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
