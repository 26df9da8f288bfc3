"""A static scan of student files for things that break determinism or the node contract.

Warnings only (no points are taken): importing ``time``, ``random``, ``threading``,
``socket``, ``asyncio`` or ``subprocess`` in node code is almost always a mistake, because the
runtime owns time, randomness, concurrency and I/O.
"""

from __future__ import annotations

import ast
from pathlib import Path

from ..simulator import display_path

WHY = {
    "time": "nodes must not read the wall clock: use self.now() and self.set_timer()",
    "datetime": "nodes must not read the wall clock: use self.now()",
    "random": "use self.rng (seeded per node) instead of the random module",
    "threading": "nodes are single-threaded: use timers instead of threads",
    "socket": "the runtime owns the network: use self.send()",
    "asyncio": "handlers must return at once: use timers, not coroutines",
    "subprocess": "nodes must not start processes",
    "multiprocessing": "nodes must not start processes",
}


def scan(folder: Path) -> list[str]:
    """One warning per offending import in ``folder``'s Python files, in path order."""
    warnings = []
    for path in sorted(folder.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue  # the import error is reported elsewhere, with its line
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module.split(".")[0]]
            for name in names:
                if name in WHY:
                    warnings.append(f"{display_path(str(path))}:{node.lineno} imports {name}: "
                                    f"{WHY[name]}")
    return warnings
