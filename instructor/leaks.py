"""Does any reference solution leak into the student release? Compared as code, not text.

Every non-trivial function body of ``reference/`` is normalised: docstrings and type
annotations dropped, positions ignored, and its local names (parameters and anything assigned)
renamed in order of first use, so ``total = a + b`` and ``s = x + y`` are the same code. Then
every block of statements anywhere in the release (module level, class bodies, function bodies,
``if``/``for``/``with``/``try`` blocks) is scanned for a run of statements that normalises to the
same thing. A match is a leak, unless the same body is also in ``starter/`` (code the students
are given on purpose).

    leaks = find_leaks(REPO / "reference", release_dir, allowed=REPO / "starter")
    for leak in leaks: print(leak)
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from pathlib import Path

MIN_NODES = 25          # smaller bodies (a getter, a one-line return) are not a solution


@dataclass(frozen=True)
class Body:
    where: str          # "reference/lab1_cap/kvnode.py:120 KVNode.store"
    shape: tuple        # the kinds of its statements ("If", "Assign", "Return")
    digest: str

    @property
    def size(self) -> int:
        return len(self.shape)


@dataclass(frozen=True)
class Leak:
    body: Body
    found: str          # "graders/lab1_cap/model.py:42"

    def __str__(self) -> str:
        return (f"{self.body.where} ({self.body.size} statements) appears in {self.found}")


class _Rename(ast.NodeTransformer):
    """Rename local names to v0, v1, ... in order of first appearance; drop annotations and
    docstrings."""

    def __init__(self, local: set[str]):
        self.local = local
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        if name not in self.local:
            return name
        if name not in self.names:
            self.names[name] = f"v{len(self.names)}"
        return self.names[name]

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Name(id=self._name(node.id), ctx=node.ctx), node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return ast.arg(arg=self._name(node.arg), annotation=None)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        target = self.visit(node.target)
        if node.value is None:
            return ast.Pass()
        return ast.Assign(targets=[target], value=self.visit(node.value))

    def _function(self, node):
        node.returns = None
        node.body = strip_docstring(node.body)
        node.name = self._name(node.name)
        return self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = _function


def strip_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[1:] or [ast.Pass()]
    return body


def stored_names(stmts: list[ast.stmt]) -> set[str]:
    names = set()
    for stmt in stmts:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
    return names


def params(fn: ast.AST | None) -> set[str]:
    if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return set()
    a = fn.args
    out = {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs}
    out |= {x.arg for x in (a.vararg, a.kwarg) if x is not None}
    return out


def normalise(stmts: list[ast.stmt], enclosing: ast.AST | None) -> str:
    import copy

    stmts = [copy.deepcopy(s) for s in strip_docstring(list(stmts))]
    renamer = _Rename(stored_names(stmts) | params(enclosing))
    module = ast.Module(body=[renamer.visit(s) for s in stmts], type_ignores=[])
    return hashlib.sha1(ast.dump(module, annotate_fields=False).encode()).hexdigest()


def trivial(stmts: list[ast.stmt]) -> bool:
    body = strip_docstring(stmts)
    if sum(1 for s in body for _ in ast.walk(s)) < MIN_NODES:
        return True
    if len(body) == 1 and isinstance(body[0], ast.Raise):
        return True                                   # raise NotImplementedError("...")
    return False


SKIP = {".git", ".nox", ".venv", "venv", "__pycache__", "node_modules", ".hypothesis"}


def python_files(root: Path) -> list[Path]:
    """Every ``*.py`` under ``root``, skipping virtual environments and caches."""
    out = []
    for path in sorted(root.rglob("*.py")):
        if not SKIP.intersection(path.relative_to(root).parts):
            out.append(path)
    return out


def _parse(path: Path) -> ast.Module | None:
    try:
        return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
        return None


def function_bodies(root: Path, label: str) -> list[Body]:
    """The non-trivial function bodies of every Python file under ``root``."""
    out = []
    for path in python_files(root):
        tree = _parse(path)
        if tree is None:
            continue
        for node, qual in _functions(tree):
            body = strip_docstring(node.body)
            if trivial(body):
                continue
            rel = path.relative_to(root)
            out.append(Body(f"{label}/{rel}:{node.lineno} {qual}",
                            tuple(type(s).__name__ for s in body), normalise(body, node)))
    return out


def _functions(tree: ast.AST, prefix: str = ""):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node, prefix + node.name
            yield from _functions(node, prefix + node.name + ".")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, prefix + node.name + ".")
        else:
            yield from _functions(node, prefix)


def _blocks(tree: ast.AST):
    """Every list of statements in ``tree``, with the function it belongs to (or None)."""
    def walk(node: ast.AST, fn: ast.AST | None):
        here = node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else fn
        for field in ("body", "orelse", "finalbody"):
            value = getattr(node, field, None)
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                yield value, here
        for handler in getattr(node, "handlers", []) or []:
            yield handler.body, here
        for case in getattr(node, "cases", []) or []:
            yield case.body, here
        for child in ast.iter_child_nodes(node):
            yield from walk(child, here)
    yield from walk(tree, None)


def find_leaks(reference: Path, release: Path, allowed: Path | None = None) -> list[Leak]:
    """Reference function bodies found (as code) anywhere under ``release``."""
    bodies = function_bodies(reference, reference.name)
    if allowed is not None and allowed.is_dir():
        given = {b.digest for b in function_bodies(allowed, allowed.name)}
        bodies = [b for b in bodies if b.digest not in given]
    by_digest = {b.digest: b for b in bodies}
    shapes = {b.shape for b in bodies}              # statement kinds: a cheap first filter
    sizes = sorted({len(shape) for shape in shapes})
    leaks: dict[tuple[str, str], Leak] = {}
    for path in python_files(release):
        tree = _parse(path)
        if tree is None:
            continue
        for stmts, fn in _blocks(tree):
            stmts = strip_docstring(stmts)
            kinds = tuple(type(s).__name__ for s in stmts)
            for k in sizes:
                for i in range(0, len(stmts) - k + 1):
                    if kinds[i:i + k] not in shapes:
                        continue
                    window = stmts[i:i + k]
                    if trivial(window):
                        continue
                    body = by_digest.get(normalise(window, fn))
                    if body is not None:
                        found = f"{path.relative_to(release)}:{window[0].lineno}"
                        leaks[(body.where, found)] = Leak(body, found)
    return sorted(leaks.values(), key=lambda x: (x.found, x.body.where))
