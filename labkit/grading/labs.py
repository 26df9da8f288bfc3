"""The labs of the module, discovered from ``graders/``: nothing here names a lab.

A lab is a package ``graders/<package>/`` whose name is ``lab`` + number + ``_`` + topic. It declares itself
in ``graders/<package>/lab.py``::

    from labkit.grading.labs import Lab
    LAB = Lab("labN", "labN_topic", "The title", "assignments/labN-topic.md")

and, if it has a live mode, its routes in ``graders/<package>/live.py`` (a ``LIVE`` of type
``labkit.live.labs.LiveLab``). A grader folder without ``lab.py`` is still a lab, with a
title made from its folder name, so an undeclared lab grades (and fails) like any other.

Discovery reads the folders once per process, on first use: ``LABS`` (in course order, by
lab number), ``BY_NAME`` (short and package name to ``Lab``), ``find_lab``, ``lab_of_path``
and ``available_labs``. ``lab.py`` and ``live.py`` are loaded from their files
(``load_file``) under private module names, so they import only labkit, and discovery works
from any working directory, whatever ``graders`` package happens to be importable there.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
PACKAGE_NAME = re.compile(r"lab(\d+)_\w+")


@dataclass(frozen=True)
class Lab:
    short: str        # what students type: "lab" and the number
    package: str      # the folder in starter/, reference/ and graders/
    title: str
    handout: str      # path of the handout, from the repository root ("" if none)
    has_nodes: bool = True  # False for a lab of plain Python objects (no simulator)

    @property
    def number(self) -> int:
        return int(self.short[3:])

    @property
    def grader_dir(self) -> Path:
        return REPO / "graders" / self.package

    @property
    def has_live(self) -> bool:
        """True when the lab has a live mode (``graders/<package>/live.py``)."""
        return (self.grader_dir / "live.py").is_file()


def load_file(path: Path) -> ModuleType:
    """The module of ``path`` (a lab's ``lab.py`` or ``live.py``), imported once per process
    under the private name ``_labkit_<package>_<stem>``."""
    name = f"_labkit_{path.parent.name}_{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


def _declared(folder: Path) -> Lab:
    """The ``LAB`` of ``folder/lab.py``, or a default one made from the folder's name."""
    package = folder.name
    if (folder / "lab.py").is_file():
        lab = getattr(load_file(folder / "lab.py"), "LAB", None)
        if not isinstance(lab, Lab) or lab.package != package:
            raise TypeError(f"{folder / 'lab.py'} must define LAB = Lab(..., {package!r}, ...)")
    else:
        number = PACKAGE_NAME.fullmatch(package).group(1)
        lab = Lab(f"lab{number}", package, package.replace("_", " "), "")
    return lab


def discover(root: Path = REPO / "graders") -> tuple[Lab, ...]:
    """Every lab package in ``root``, by number then name."""
    found = [_declared(p) for p in sorted(root.iterdir()) if p.is_dir()
             and PACKAGE_NAME.fullmatch(p.name) and (p / "__init__.py").is_file()] \
        if root.is_dir() else []
    return tuple(sorted(found, key=lambda lab: (lab.number, lab.package)))


_labs: tuple[Lab, ...] | None = None


def labs() -> tuple[Lab, ...]:
    """The discovered labs (computed once per process)."""
    global _labs
    if _labs is None:
        _labs = discover()
    return _labs


def by_name() -> dict[str, Lab]:
    """Short names and package names to labs."""
    return {**{lab.short: lab for lab in labs()}, **{lab.package: lab for lab in labs()}}


def __getattr__(name: str):
    """``LABS`` and ``BY_NAME`` are computed on first use, so importing this module is cheap
    and a lab's own ``lab.py`` can import ``Lab`` from here."""
    if name == "LABS":
        return labs()
    if name == "BY_NAME":
        return by_name()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def find_lab(name: str) -> Lab:
    """The lab called ``name`` (short or package name, or a path ending in one); a clear
    ValueError otherwise."""
    lab = by_name().get(name.strip().rstrip("/").split("/")[-1])
    if lab is None:
        known = ", ".join(f"{lab.short} ({lab.title})" for lab in labs())
        raise ValueError(f"there is no lab called {name!r}; the labs are: {known}")
    return lab


def lab_of_path(path: str) -> Lab | None:
    """The lab a grader file belongs to, from its folder name."""
    names = by_name()
    for part in Path(path).parts:
        if part in names and PACKAGE_NAME.fullmatch(part):
            return names[part]
    return None


def available_labs() -> list[Lab]:
    """The labs whose grader folder exists (all discovered ones: kept for the callers)."""
    return [lab for lab in labs() if lab.grader_dir.is_dir()]
