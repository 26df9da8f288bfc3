"""A sample class of submissions, to try ``nox -s grade_class`` before the real one:

    python -m instructor.sample_class DIR [--variants all|one]

writes into DIR one folder (or zip) per submission, and ``DIR/expected.json`` (the status each
should get, and the score when it is known in advance):

* ``reference`` (full marks), ``starter`` (0), ``zip-starter.zip`` (a whole student repository,
  zipped), ``syntax-error``, ``infinite-loop`` (every handler loops forever: each test fails
  after ``--call-timeout``, status ok, 0 points), ``empty`` (no lab package: invalid),
  ``not-a-zip.zip`` (invalid);
* ``buggy-<lab>-<variant>``: each known-bug variant of ``tests/buggy/``, made self-contained
  (the reference packages it builds on are vendored in: the sandbox cannot read reference/);
* ``hostile-<name>``: each attack of ``tests/hostile/`` on top of the untouched starter, which
  must score exactly 0.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import textwrap
import zipfile
from pathlib import Path

from labkit.grading.labs import LABS, REPO

HOSTILE = REPO / "tests" / "hostile"
BUGGY = REPO / "tests" / "buggy"


def lab_packages(root: Path) -> list[str]:
    return [lab.package for lab in LABS if (root / lab.package / "__init__.py").is_file()]


def copy_labs(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for package in lab_packages(src):
        shutil.copytree(src / package, dest / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


# ----- hostile submissions -----------------------------------------------------------------------

WRAP = '''
"""Runs the payload's attack() first in every class and function of a lab package."""

import functools
import types


def wrap(module, package, attack):
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    out = {"__all__": list(names)}
    for name in names:
        value = getattr(module, name)
        if isinstance(value, type) and not issubclass(value, BaseException):
            out[name] = _wrap_class(value, package, attack)
        elif isinstance(value, types.FunctionType):
            out[name] = _wrap_function(value, package, attack)
        else:
            out[name] = value
    return out


def _wrap_class(cls, package, attack):
    ns = {"__module__": package, "__qualname__": cls.__name__, "__doc__": cls.__doc__}
    if hasattr(cls, "on_start"):
        def on_start(self):
            attack(self)
            return cls.on_start(self)
        ns["on_start"] = on_start
    else:
        def __init__(self, *args, **kwargs):
            attack(self)
            cls.__init__(self, *args, **kwargs)
        ns["__init__"] = __init__
    return type(cls.__name__, (cls,), ns)


def _wrap_function(fn, package, attack):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        attack(None)
        return fn(*args, **kwargs)
    wrapper.__module__ = package
    wrapper.__qualname__ = fn.__name__
    return wrapper
'''


def hostile(payload: Path, dest: Path, starter: Path = REPO / "starter") -> Path:
    """The untouched starter with ``payload``'s ``attack(obj)`` run first everywhere."""
    copy_labs(starter, dest)
    shutil.copyfile(payload, dest / "_hostile_payload.py")
    (dest / "_hostile_wrap.py").write_text(WRAP.lstrip())
    for package in lab_packages(dest):
        init = dest / package / "__init__.py"
        init.rename(dest / package / "_starter.py")
        init.write_text(textwrap.dedent(f'''\
            """Hostile submission {payload.stem!r}: the untouched starter, with the attack of
            tests/hostile/{payload.name} run first in every class and function."""
            from . import _starter
            from _hostile_payload import attack
            from _hostile_wrap import wrap

            globals().update(wrap(_starter, {package!r}, attack))
            '''))
    namespace: dict = {}
    exec(compile(payload.read_text(), str(payload), "exec"), namespace)  # noqa: S102 - our file
    for rel, text in namespace.get("EXTRA_FILES", {}).items():
        for package in (lab_packages(dest) if "{lab}" in rel else [None]):
            path = dest / rel.format(lab=package)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    return dest


# ----- buggy variants, made self-contained --------------------------------------------------------

_REFERENCE_LAB = re.compile(r"reference_lab\(\s*['\"](lab\d_\w+)['\"]\s*\)")
_ABSOLUTE_LAB = re.compile(r"^\s*(?:from|import)\s+(lab\d_\w+)", re.M)


def vendored_variant(variant: Path, dest: Path, reference: Path = REPO / "reference") -> Path:
    """``tests/buggy/<lab>/<variant>`` as a submission that does not need reference/: the
    reference packages it subclasses are copied in as ``_vendored_reference.<lab>``."""
    copy_labs(variant, dest)
    needed: set[str] = set()
    for path in sorted(dest.rglob("*.py")):
        text = path.read_text()
        needed |= set(_REFERENCE_LAB.findall(text))
        text = text.replace("from instructor.testing import reference_lab",
                            "from _vendored_reference import reference_lab")
        if "instructor.testing" in text:
            raise ValueError(f"{path} uses instructor.testing in a way this tool cannot vendor")
        path.write_text(text)
    todo = sorted(needed)
    while todo:                                   # reference packages import other labs too
        package = todo.pop()
        for path in (reference / package).rglob("*.py"):
            for other in _ABSOLUTE_LAB.findall(path.read_text()):
                if other not in needed:
                    needed.add(other)
                    todo.append(other)
    vendor = dest / "_vendored_reference"
    vendor.mkdir()
    for package in sorted(needed):
        shutil.copytree(reference / package, vendor / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (vendor / "__init__.py").write_text(textwrap.dedent(f'''\
        """The reference packages this buggy variant builds on, vendored in (generated)."""
        import importlib
        import sys

        def reference_lab(package):
            for name in {sorted(needed)!r}:       # their absolute imports of each other
                if name != package and name not in sys.modules:
                    sys.modules[name] = importlib.import_module(__name__ + "." + name)
            return importlib.import_module(__name__ + "." + package)
        '''))
    return dest


# ----- the sample class --------------------------------------------------------------------------

def build(dest: Path, variants: str = "all") -> dict[str, dict]:
    """Write the sample class into ``dest``; returns (and writes) what each should get."""
    dest.mkdir(parents=True, exist_ok=True)
    expected: dict[str, dict] = {}
    copy_labs(REPO / "reference", dest / "reference")
    expected["reference"] = {"status": "ok", "score": "full"}
    copy_labs(REPO / "starter", dest / "starter")
    expected["starter"] = {"status": "ok", "score": 0}

    repo = dest / "_zip" / "ds-labs-main"
    copy_labs(REPO / "starter", repo / "starter")
    (repo / "README.md").write_text("my copy of the labs\n")
    _zip(repo.parent, dest / "zip-starter.zip")
    shutil.rmtree(dest / "_zip")
    expected["zip-starter.zip"] = {"status": "ok", "score": 0}

    broken = copy_labs(REPO / "starter", dest / "syntax-error")
    first = lab_packages(broken)[0]
    with open(broken / first / "__init__.py", "a") as f:
        f.write("\ndef oops(:\n    pass\n")
    expected["syntax-error"] = {"status": "ok", "score": 0}

    hostile(_write(dest / "_loop_payload.py", LOOP_PAYLOAD), dest / "infinite-loop")
    (dest / "_loop_payload.py").unlink()
    expected["infinite-loop"] = {"status": "ok", "score": 0}      # each test fails in time

    (dest / "empty").mkdir()
    (dest / "empty" / "notes.txt").write_text("I did not do the labs\n")
    expected["empty"] = {"status": "invalid", "score": 0}
    (dest / "not-a-zip.zip").write_text("this is not a zip file\n")
    expected["not-a-zip.zip"] = {"status": "invalid", "score": 0}

    for payload in sorted(HOSTILE.glob("*.py")):
        hostile(payload, dest / f"hostile-{payload.stem}")
        expected[f"hostile-{payload.stem}"] = {"status": "ok", "score": 0}

    for lab in LABS:
        folder = BUGGY / lab.package
        found = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("_")) \
            if folder.is_dir() else []
        for variant in found[:1] if variants == "one" else found:
            name = f"buggy-{lab.short}-{variant.name}"
            vendored_variant(variant, dest / name)
            expected[name] = {"status": "ok", "score": "less than full", "lab": lab.package}
    (dest / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    return expected


LOOP_PAYLOAD = '''"""Every handler and method loops forever (a student's debugging loop left in)."""


def attack(obj):
    while True:
        pass
'''


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _zip(folder: Path, out: Path) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(folder))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.sample_class",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--variants", choices=("all", "one"), default="all",
                        help="every buggy variant, or one per lab")
    args = parser.parse_args(argv)
    if args.dest.exists() and any(args.dest.iterdir()):
        parser.error(f"{args.dest} is not empty")
    expected = build(args.dest, args.variants)
    print(f"{len(expected)} submissions in {args.dest} (expected results: "
          f"{args.dest / 'expected.json'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
