"""Helpers for the project's own tests (never used by graders).

``reference_lab("lab1_cap")`` imports ``reference/lab1_cap`` under a private module name, so a
buggy variant can subclass the reference and change one method:

    # tests/buggy/lab1_cap/rollback_deletes/lab1_cap/__init__.py
    from instructor.testing import reference_lab
    class KVNode(reference_lab("lab1_cap").KVNode):
        ...the bug...
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from labkit.grading.labs import REPO


def reference_lab(package: str) -> ModuleType:
    name = f"_reference_{package}"
    if name in sys.modules:
        return sys.modules[name]
    folder = REPO / "reference" / package
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
