"""One layer per folder, imports only point down, no import circles (README "Pipeline" and "Layout").

Read from the source with ``ast`` (every import, module level or inside a function), not from what happens to be
imported at run time, so a lazy import that climbs a layer is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import convdiv

PACKAGE = Path(convdiv.__file__).resolve().parent

# Lowest first. A module may import from its own folder and from folders of a strictly lower layer.
LAYERS: list[set[str]] = [
    {"convdiv", "errors", "analysis"},  # the package root (__version__), errors; statistics on DataFrames
    {"config", "progress", "jsonout", "vocab", "data", "textlimits", "bounds"},
    {"warehouse"},  # engine, tables, COPY loader, ledger, queries, views, migrations
    {"context"},  # the command line's shared context (settings -> engine)
    {"corpus", "suites", "extract"},  # the stages: corpus rows, suite specs and the trainer, pure compute
    {"ingest"},  # orchestration of extract over suites into the warehouse
    {"api", "export", "report"},  # readers of the warehouse
    {"pipeline", "testing"},  # the main job end to end; fixtures for tests and benches
    {"cli"},
    {"__main__"},  # python -m convdiv
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "warehouse" and rel.parts[1:2] == ("migrations",):
            continue  # the released migrations (a link to migrations/)
        parts = ["convdiv", *rel.with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "convdiv")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "convdiv":
                continue
            for alias in node.names:  # `from convdiv.x import y` imports module convdiv.x.y when there is one
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
    return {m for m in found if m != name}


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "convdiv"


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_folder_has_a_layer():
    assert {_folder(m) for m in _graph()} <= set(RANK), "add the new folder to LAYERS"


def test_imports_only_point_down():
    upward = []
    for module, targets in _graph().items():
        for target in targets:
            a, b = _folder(module), _folder(target)
            if module == "convdiv" and target == "convdiv.api":
                continue  # the package's facade: convdiv.connect() is convdiv.api.connect, imported on first use
            if a != b and not RANK[b] < RANK[a]:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_analysis_imports_nothing_from_convdiv():
    graph = _graph()
    outside = {
        m: {t for t in targets if _folder(t) != "analysis"} for m, targets in graph.items() if _folder(m) == "analysis"
    }
    assert {m: t for m, t in outside.items() if t} == {}


def test_the_product_never_imports_the_test_scaffolding():
    """convdiv.testing (synthetic warehouses, fixtures) is for tests and benches: no other module imports it, so
    the product's path never runs scaffolding (the layers alone would allow the command line to)."""
    found = {m: sorted(t for t in targets if _folder(t) == "testing") for m, targets in _graph().items()}
    assert {m: t for m, t in found.items() if t and _folder(m) != "testing"} == {}


def test_no_import_circle():
    """Tarjan's strongly connected components over modules: every component is a single module."""
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert circles == []


def test_the_checker_sees_a_circle_and_an_upward_import(tmp_path):
    """The checks above can fail: the same walk finds a planted circle and an upward import."""
    (tmp_path / "a.py").write_text("from convdiv.warehouse import b\n")
    modules = {"convdiv.corpus.a": tmp_path / "a.py", "convdiv.warehouse.b": tmp_path / "a.py"}
    assert _imports("convdiv.corpus.a", tmp_path / "a.py", modules) == {"convdiv.warehouse.b"}
    (tmp_path / "c.py").write_text("def f():\n    from convdiv.report import build\n")
    found = _imports("convdiv.warehouse.c", tmp_path / "c.py", {"convdiv.report.build": tmp_path})
    assert found == {"convdiv.report.build"} and not RANK["report"] < RANK["warehouse"]
