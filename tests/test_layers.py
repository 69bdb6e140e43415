"""The house rules of ENGINEERING.md, checked on the code itself: imports point one way (an import inside a
function or under ``TYPE_CHECKING`` counts), the index and parser layers know nothing of the catalog, the
server is a shell over the public API, and no module or function grows past the size that asks for a split."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "pipeline"
#: Modules that are a table of data rather than logic may be longer (none today).
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 120


def _modules() -> dict[str, Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        parts = list(f.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


MODULES = _modules()


def _imports(name: str) -> set[str]:
    """Every project module ``name`` imports, wherever the import statement stands."""
    f = MODULES[name]
    package = name if f.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            # `from pipeline.x import y`: y may be a module; the package x itself is imported too
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in MODULES:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for m in sorted(MODULES):
        if m not in index:
            visit(m)
    return out


def _reaches(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in GRAPH[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_the_checker_sees_imports_inside_functions() -> None:
    # build imports the model converter only inside functions (start-up cost): it must still be an edge
    assert "pipeline.models.convert" in GRAPH["pipeline.build"]
    assert "pipeline.library" in GRAPH["pipeline.changes"]


@pytest.mark.parametrize(
    "low",
    [
        "pipeline.lexical",
        "pipeline.dense",
        "pipeline.ingest",
        "pipeline.layout",
        "pipeline.catalog",
        "pipeline.corpus",
    ],
)
def test_lower_layers_know_nothing_of_the_catalog_or_above(low: str) -> None:
    above = {
        "pipeline",
        "pipeline.library",
        "pipeline.changes",
        "pipeline.build",
        "pipeline.retrieve",
        "pipeline.cli",
        "pipeline.server",
    }
    if low != "pipeline.catalog":
        above.add("pipeline.catalog")
    reached = {m for m in _reaches(low) if m in above or m.startswith(("pipeline.cli.", "pipeline.server."))}
    assert reached == set(), f"{low} reaches {sorted(reached)}"


def test_ingest_modules_reach_no_configuration_or_catalog() -> None:
    for m in [m for m in MODULES if m == "pipeline.ingest" or m.startswith("pipeline.ingest.")]:
        assert not _reaches(m) & {"pipeline.config", "pipeline.library", "pipeline.catalog"}, m


def test_the_server_uses_only_the_public_api() -> None:
    for m in [m for m in MODULES if m.startswith("pipeline.server")]:
        outside = {
            t
            for t in GRAPH[m]
            if not t.startswith("pipeline.server") and t not in ("pipeline", "pipeline.version")
        }
        assert outside == set(), f"{m} imports {sorted(outside)}"


def test_modules_and_functions_stay_small() -> None:
    long_modules, long_functions = [], []
    for name, f in MODULES.items():
        text = f.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            long_modules.append((name, text.count("\n")))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long_functions.append((name, node.name, n))
    assert long_modules == [] and long_functions == []


def test_the_retriever_has_at_most_15_public_methods() -> None:
    tree = ast.parse(MODULES["pipeline.retrieve"].read_text(encoding="utf-8"))
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Retriever"]
    public = [n.name for n in cls.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]
    assert len(public) <= 15, public


def test_the_retriever_never_builds() -> None:
    reached = _reaches("pipeline.retrieve")
    assert not reached & {"pipeline.build", "pipeline.changes", "pipeline.models.convert"}, sorted(reached)


def test_no_test_imports_from_conftest() -> None:
    tests = Path(__file__).resolve().parent
    offenders = [
        f.name
        for f in tests.glob("test_*.py")
        if any(
            isinstance(n, ast.ImportFrom) and n.module == "conftest"
            for n in ast.walk(ast.parse(f.read_text(encoding="utf-8")))
        )
    ]
    assert offenders == []


def test_graph_is_not_empty() -> None:
    assert len(MODULES) > 40 and sum(len(v) for v in GRAPH.values()) > 100


#: The layers of README's "How it works", lowest first: a module may import its own layer and those below.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "foundations",
        [
            "pipeline.errors",
            "pipeline.version",
            "pipeline.config",
            "pipeline.text",
            "pipeline.fileio",
            "pipeline.locking",
            "pipeline.fanout",
            "pipeline.store",
            "pipeline.layout",
            "pipeline.corpus",
            "pipeline.ranking",
            "pipeline.fusion",
        ],
    ),
    ("readers", ["pipeline.ingest"]),
    ("analysis", ["pipeline.identifiers", "pipeline.jieba_shards", "pipeline.analyze", "pipeline.translate"]),
    ("indexes", ["pipeline.lexical", "pipeline.dense", "pipeline.ann", "pipeline.embed", "pipeline.models"]),
    ("library", ["pipeline.catalog", "pipeline.library"]),
    ("queries", ["pipeline.cite", "pipeline.plan", "pipeline.answer", "pipeline.abstain", "pipeline.align"]),
    ("channels", ["pipeline.backends"]),
    ("coordinator", ["pipeline.retrieve"]),
    ("writers", ["pipeline.build", "pipeline.changes", "pipeline.status"]),
    (
        "shells",
        [
            "pipeline",
            "pipeline.__main__",
            "pipeline.cli",
            "pipeline.server",
            "pipeline.batch",
            "pipeline.evaluate",
            "pipeline.render",
            "pipeline.web",
        ],
    ),
]


def _layer(module: str) -> int | None:
    for i, (_, names) in enumerate(LAYERS):
        if any(module == n or (n != "pipeline" and module.startswith(n + ".")) for n in names):
            return i
    return None


def test_every_module_has_a_layer() -> None:
    assert [m for m in MODULES if _layer(m) is None] == []


def test_imports_point_down_the_layers() -> None:
    upward = [
        f"{m} ({LAYERS[_layer(m) or 0][0]}) imports {w} ({LAYERS[_layer(w) or 0][0]})"
        for m in sorted(GRAPH)
        for w in sorted(GRAPH[m])
        if (_layer(w) or 0) > (_layer(m) or 0)
    ]
    assert upward == []


def test_readme_names_the_layers() -> None:
    readme = (PKG.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## How it works") : readme.index("## Evaluation")]
    for name, _ in LAYERS:
        assert f"| {name} |" in section, name
