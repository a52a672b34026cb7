"""The layer rules of ARCHITECTURE.md, read from the sources' imports: the shell (`edgecls.cli`,
`edgecls.commands`, `edgecls.demo`) may import anything; the exporter the trainer, the runtime and
the core; the trainer the runtime and the core; the built-in datasets the runtime and the core; the
runtime only the core; the core nothing of edgecls. And no import cycle among the modules'
top-level imports (imports inside functions load later, on use, and are allowed to point upwards
only where the layer rules allow)."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers.layout import package_dirs

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {name: ROOT / folder for name, folder in package_dirs().items()}
ALLOWED = {
    "edgecls.core": set(),
    "edgecls.runtime": {"edgecls.core"},
    "edgecls.datasets": {"edgecls.core", "edgecls.runtime"},  # the renderer resizes by the runtime's rule
    "edgecls.trainer": {"edgecls.core", "edgecls.runtime"},
    "edgecls.exporter": {"edgecls.core", "edgecls.runtime", "edgecls.trainer"},
}


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def imports(path: Path, top_level_only: bool, module: str = "") -> set[str]:
    """The edgecls modules `path` (the module named `module`) imports, relative imports resolved
    (TYPE_CHECKING blocks left out: they never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def absolute(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
        return f"{base}.{node.module}" if node.module else base

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import) and (top or not top_level_only):
                names.update(alias.name for alias in child.names if alias.name.startswith("edgecls"))
            elif isinstance(child, ast.ImportFrom) and (top or not top_level_only) and absolute(child).startswith("edgecls"):
                source = absolute(child)
                names.update(f"{source}.{alias.name}" for alias in child.names)
                names.add(source)
            inner = top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, inner)

    visit(tree, True)
    return names


def layer(module: str) -> str | None:
    for prefix in sorted(ALLOWED, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return None


def test_each_layer_imports_only_the_layers_below_it():
    known = modules()
    broken = []
    for module, path in known.items():
        own = layer(module)
        if own is None:  # the shell
            continue
        for target in imports(path, top_level_only=False, module=module):
            other = layer(target)
            if other is not None and other != own and other not in ALLOWED[own]:
                broken.append(f"{module} imports {target}")
    assert broken == []


def test_no_import_cycles():
    known = modules()
    graph = {
        module: {target for target in imports(path, top_level_only=True, module=module) if target in known and target != module}
        for module, path in known.items()
    }
    # An import of a package runs its __init__: a module importing edgecls.runtime.live.x also imports edgecls.runtime.live.
    for module in graph:
        for target in list(graph[module]):
            parent = target.rpartition(".")[0]
            while parent and parent in known and parent != module and not module.startswith(parent + "."):
                graph[module].add(parent)
                parent = parent.rpartition(".")[0]
    cycles = []
    state: dict[str, int] = {}

    def walk(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                walk(target, [*trail, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert cycles == []
