"""The package rules written in ARCHITECTURE.md, enforced on every import in the tree.

The rules live in the document (its ```rules block), not here: change the map and the
test follows. Imports are read with `ast`, so nothing is imported to check them; an import
inside a function or under `if TYPE_CHECKING:` counts as a dependency all the same.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import pytest

from tests.conftest import REPO

PACKAGES = ("engine", "formats", "nodes", "apps")
ARCHITECTURE = REPO / "ARCHITECTURE.md"


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports, as a dotted name
    line: int
    top_level: bool  # run when the module is imported (not inside a function)


@dataclass(frozen=True)
class Rules:
    allowed: dict[str, tuple[str, ...]]  # package -> packages of ours it may import
    only: dict[str, tuple[str, ...]]  # third-party package -> the packages that may import it
    lazy: dict[str, tuple[str, ...]]  # third-party package -> packages importing it in functions


def read_rules(text: str) -> Rules:
    block = re.search(r"```rules\n(.*?)```", text, re.S)
    assert block, "ARCHITECTURE.md has no ```rules block"
    allowed: dict[str, tuple[str, ...]] = {}
    only: dict[str, tuple[str, ...]] = {}
    lazy: dict[str, tuple[str, ...]] = {}
    for raw in block.group(1).splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        left, arrow, right = line.partition("->")
        words = tuple(w for w in right.replace(",", " ").split() if w != "-")
        if arrow:
            allowed[left.strip()] = words
        elif line.startswith("only "):
            name, _, users = line.removeprefix("only ").partition(":")
            only[name.strip()] = tuple(users.replace(",", " ").split())
        elif line.startswith("lazy "):
            name, _, users = line.removeprefix("lazy ").partition(":")
            lazy[name.strip()] = tuple(users.replace(",", " ").split())
        else:
            raise AssertionError(f"ARCHITECTURE.md rules: cannot read {raw!r}")
    return Rules(allowed, only, lazy)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[Import]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[Import] = []

    def visit(node: ast.AST, top_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top_level and not isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                inner = False  # read by type checkers only, never run
            if isinstance(child, ast.Import):
                found.extend(Import(module, a.name, child.lineno, inner) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.extend(
                    Import(
                        module, f"{base}.{a.name}" if a.name != "*" else base, child.lineno, inner
                    )
                    for a in child.names
                )
            visit(child, inner)

    visit(tree, True)
    return found


def our_package(name: str, rules: Rules) -> str | None:
    """The most specific package in the rules that `name` belongs to."""
    matches = [p for p in rules.allowed if name == p or name.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def sources() -> list[Path]:
    return sorted(p for top in PACKAGES for p in (REPO / top).rglob("*.py"))


@pytest.fixture(scope="module")
def rules() -> Rules:
    return read_rules(ARCHITECTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def all_imports() -> list[Import]:
    return [i for path in sources() for i in imports_of(path)]


def test_every_package_of_ours_has_a_rule(rules: Rules) -> None:
    unruled = sorted(
        {module_name(p) for p in sources() if our_package(module_name(p), rules) is None}
    )
    assert not unruled, f"ARCHITECTURE.md's rules do not cover: {unruled}"


def test_imports_between_our_packages_follow_the_rules(
    rules: Rules, all_imports: list[Import]
) -> None:
    broken = []
    for imp in all_imports:
        if imp.target.split(".")[0] not in PACKAGES:
            continue
        source, target = our_package(imp.module, rules), our_package(imp.target, rules)
        assert source is not None and target is not None, imp
        if target != source and target not in rules.allowed[source]:
            broken.append(f"{imp.module}:{imp.line} imports {imp.target} ({source} -> {target})")
    assert not broken, "imports against ARCHITECTURE.md:\n" + "\n".join(broken)


def test_third_party_packages_are_imported_only_where_the_rules_say(
    rules: Rules, all_imports: list[Import]
) -> None:
    broken = []
    for imp in all_imports:
        name = imp.target.split(".")[0]
        source = our_package(imp.module, rules)
        if name in rules.only and source not in rules.only[name]:
            broken.append(f"{imp.module}:{imp.line} imports {name}")
        if name in rules.lazy and imp.top_level and source in rules.lazy[name]:
            broken.append(f"{imp.module}:{imp.line} imports {name} when it is imported")
    assert not broken, "third-party imports against ARCHITECTURE.md:\n" + "\n".join(broken)


def test_no_module_imports_itself_in_a_circle(all_imports: list[Import]) -> None:
    known = {module_name(p) for p in sources()}
    graph = nx.DiGraph()
    for imp in all_imports:
        # `from a.b import c` may name the module a.b.c or the name c in module a.b.
        target = imp.target if imp.target in known else imp.target.rpartition(".")[0]
        if target in known and target != imp.module:
            graph.add_edge(imp.module, target)
    loops = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert not loops, f"modules that import each other (directly or round about): {loops}"
