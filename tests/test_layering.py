"""The architecture rules that keep the pack importable anywhere and the engines testable alone."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMFY_MODULES = {"comfy", "comfy_api", "comfy_extras", "comfy_execution", "folder_paths", "server", "nodes",
                 "execution", "node_helpers", "latent_preview"}
PACKAGE_DIRS = ("engines", "nodes", "bridge", "server_routes", "cli", "bench")


def python_files(*folders: str):
    for folder in folders:
        yield from (ROOT / folder).rglob("*.py")


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_engines_import_neither_comfyui_nor_aiohttp():
    offenders = {str(p.relative_to(ROOT)): sorted(imported_roots(p) & (COMFY_MODULES | {"aiohttp"}))
                 for p in python_files("engines")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_bridge_imports_comfyui():
    files = [ROOT / "__init__.py", *python_files(*(d for d in PACKAGE_DIRS if d != "bridge"))]
    offenders = {str(p.relative_to(ROOT)): sorted(imported_roots(p) & COMFY_MODULES) for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_internal_imports_are_relative_and_nothing_touches_sys_path():
    for path in [ROOT / "__init__.py", *python_files(*PACKAGE_DIRS)]:
        source = path.read_text()
        assert "comfyui_lora_lab" not in imported_roots(path), f"{path}: absolute import of our own package"
        assert "sys.path" not in source, f"{path}: never put the pack on sys.path (our nodes/ would shadow ComfyUI's)"


def test_importing_the_pack_outside_comfyui_is_cheap_and_defines_its_names():
    code = ("import sys, comfyui_lora_lab as p; "
            "print(p.NODE_CLASS_MAPPINGS, p.WEB_DIRECTORY, 'torch' in sys.modules, 'aiohttp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["{}", "./web", "False", "False"], "import must define names only: no torch, no server"


# --- Structure: one composition root, no import circles, thin nodes, one definition of each shared helper ---

def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def our_modules() -> dict[str, Path]:
    modules = {module_name(p): p for p in python_files(*PACKAGE_DIRS)}
    modules[""] = ROOT / "__init__.py"
    return modules


def runtime_imports(node: ast.AST):
    """Every import statement that runs (module level or inside functions); ``if TYPE_CHECKING:`` blocks do not."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        elif not (isinstance(child, ast.If) and getattr(child.test, "id", None) == "TYPE_CHECKING"):
            yield from runtime_imports(child)


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Our modules that ``name`` imports (relative imports; ``from . import x`` counts the submodule x)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in runtime_imports(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.ImportFrom) or not node.level:
            continue
        base = package.split(".") if package else []
        base = base[:len(base) - node.level + 1] if node.level > 1 else base
        target = ".".join(base + ([node.module] if node.module else []))
        for alias in node.names:
            submodule = f"{target}.{alias.name}".strip(".")
            found.add(submodule if submodule in modules else target)
    return {module for module in found if module in modules and module != name}


def import_circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, stack, on_stack, circles = {}, {}, [], set(), []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root), on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child), on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(frozenset(component))
    return circles


def test_no_import_circles_among_our_modules():
    modules = our_modules()
    graph = {name: imported_modules(name, path, modules) for name, path in modules.items()}
    circles = [sorted(circle) for circle in import_circles(graph)]
    assert circles == [], "modules that import each other (also through function-level imports)"


def test_the_circle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_circles(graph) == [frozenset({"a", "b", "c"})]


# Outside server_routes/, only what serves HTTP builds the routes: the bridge inside ComfyUI, the refiner's
# `serve` command and demo, and the benchmarks that time routes. Everything else gets its state from engines.lab.
ROUTE_REGISTRATION_POINTS = {
    "bridge/services.py": {"server_routes"},
    "cli/refiner_cmd.py": {"server_routes.app"},
    "cli/demo_refiner.py": {"server_routes.app"},
    "bench/explorer.py": {"server_routes.app"},
    "bench/refiner_speed.py": {"server_routes.app"},
    "bench/brand_trace.py": {"server_routes.app"},
}


def test_nothing_outside_server_routes_imports_it_but_the_registration_points():
    modules = our_modules()
    found = {}
    for name, path in modules.items():
        if name.startswith("server_routes"):
            continue
        imported = {m for m in imported_modules(name, path, modules) if m.split(".")[0] == "server_routes"}
        if imported:
            found[str(path.relative_to(ROOT))] = imported
    assert found == ROUTE_REGISTRATION_POINTS


MAX_EXECUTE_LINES = 15


def test_every_node_execute_is_a_handful_of_lines():
    lengths = {}
    for path in (ROOT / "nodes").glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name == "execute":
                lengths[path.name] = node.end_lineno - node.lineno + 1
    assert len(lengths) >= 8, "every node module defines execute"
    too_long = {name: n for name, n in lengths.items() if n > MAX_EXECUTE_LINES}
    assert too_long == {}, f"execute is at most {MAX_EXECUTE_LINES} lines: build a request, call one engine use case"


SHARED_HELPERS = {"write_json_atomic": "engines/common/atomic.py", "write_text_atomic": "engines/common/atomic.py",
                  "atomic_target": "engines/common/atomic.py", "ConfigError": "engines/common/errors.py",
                  "Lab": "engines/lab.py"}


def definitions(path: Path) -> set[str]:
    return {node.name for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


def test_each_shared_helper_is_defined_once_in_common():
    defined = {}
    for path in [ROOT / "__init__.py", *python_files(*PACKAGE_DIRS)]:
        for name in definitions(path) & set(SHARED_HELPERS):
            defined.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert defined == {name: [home] for name, home in SHARED_HELPERS.items()}


def test_the_prompt_lora_tag_syntax_is_written_once():
    """``<lora:name:w>`` is read by discovery and stripped by Text to LoRA: one regex for both."""
    homes = []
    for path in python_files("engines", "nodes", "cli"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "lora|lyco" in node.value:
                homes.append(str(path.relative_to(ROOT)))
    assert homes == ["engines/common/prompt_syntax.py"]


def test_the_readme_architecture_table_names_every_folder():
    """A reader finds any feature's file from the table: every engine package and module, and every layer, is in
    the "where" column, and everything named there exists."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Architecture"):readme.index("### HTTP routes")]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    named = {path.rstrip("/") for row in rows[1:] for path in re.findall(r"`([^`]+)`", row[2])}
    assert {path for path in named if not (ROOT / path).exists()} == set()
    engines = {f"engines/{p.name}" for p in (ROOT / "engines").iterdir()
               if p.name != "__init__.py" and (p.suffix == ".py" or (p / "__init__.py").exists())}
    assert engines - named == set(), "engine packages or modules missing from the README's architecture table"
    assert {*PACKAGE_DIRS, "web", "example_workflows", "__init__.py"} - named == set()
