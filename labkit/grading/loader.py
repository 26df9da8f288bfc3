"""Loading the code under test: ``--impl starter|reference|PATH``.

A submission is a folder laid out like ``starter/``: one package per lab (the grader folders' names).
The folder is put first on ``sys.path`` and each lab package is imported on first use, so a
lab that fails to import costs that lab only. Nothing else from the folder is ever executed by
pytest: only ``graders/`` is collected, so a ``conftest.py`` in a submission is never loaded.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from pathlib import Path
from types import ModuleType

from ..errors import GraderBug, SubmissionError
from ..simulator import display_path, is_student_file
from .labs import REPO, labs

_cache: dict[str, ModuleType | SubmissionError] = {}
_impl_dir: Path | None = None


def resolve_impl(value: str) -> Path:
    """``starter`` and ``reference`` name the repository's folders; anything else is a path."""
    path = REPO / value if value in ("starter", "reference") else Path(value).expanduser()
    path = path.resolve()
    if not path.is_dir():
        raise SubmissionError(
            f"--impl {value}: no such folder ({path}). Give 'starter', 'reference' or a folder "
            f"laid out like starter/ (with {', '.join(f'{lab.package}/' for lab in labs())} "
            f"inside).")
    return path


def use_impl(path: Path, importable: bool = True) -> None:
    """Make ``path`` the folder lab packages are imported from; with ``importable`` False
    (``--sandbox``) it is never put on ``sys.path``."""
    global _impl_dir
    _impl_dir = path
    if importable and str(path) not in sys.path:
        sys.path.insert(0, str(path))
    _cache.clear()


def impl_dir() -> Path:
    if _impl_dir is None:
        raise RuntimeError("no --impl chosen yet (the grading plugin sets it)")
    return _impl_dir


def load_lab(package: str) -> ModuleType:
    """Import the lab package from the chosen folder, or raise ``SubmissionError`` that says
    which file and line is wrong and what to do, or ``GraderBug`` when the sandbox refuses to
    run on this machine (``--sandbox``: not the submission's fault, and said so). The outcome
    is cached per run."""
    cached = _cache.get(package)
    if cached is None:
        cached = _cache[package] = _import(package)
    if isinstance(cached, (SubmissionError, GraderBug)):
        raise cached
    return cached


def require(module: ModuleType, name: str, what: str = "class") -> object:
    """``module.name``, or a ``SubmissionError`` saying what the graders expected."""
    value = getattr(module, name, None)
    if value is None:
        where = display_path(getattr(module, "__file__", module.__name__) or module.__name__)
        raise SubmissionError(f"{where} does not define the {what} {name}, which the graders "
                              f"use. Keep the names the starter code gives.")
    return value


def _import(package: str) -> ModuleType | SubmissionError | GraderBug:
    root = impl_dir()
    folder = root / package
    if not folder.is_dir():
        return SubmissionError(
            f"{display_path(str(root))} has no folder {package}/. A submission is laid out like "
            f"starter/: copy starter/{package}/ into it and fill it in.")
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
    try:
        module = (_sandboxed_import(root, package) if _sandboxed
                  else importlib.import_module(package))
    except GraderBug as exc:     # not the submission's fault (a sandbox that refuses to run)
        if not _raised_by_submission(exc):
            return exc
        return _import_error(package, exc)
    except SyntaxError as exc:
        where = f"{display_path(exc.filename or '?')}:{exc.lineno}"
        return SubmissionError(
            f"{package} does not import: syntax error at {where}: {exc.msg}\n"
            f"    {(exc.text or '').rstrip()}\n"
            f"Fix that line (run `python -m py_compile {display_path(exc.filename or '?')}` to "
            f"check), then grade again.")
    except Exception as exc:  # any error raised while importing student code
        return _import_error(package, exc)
    origin = Path(getattr(module, "__file__", "") or "").resolve()
    if root not in origin.parents:
        return SubmissionError(f"{package} was imported from {origin}, not from {root}; "
                               f"rename or remove the other copy")
    return module


def _student_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return [f for f in traceback.extract_tb(exc.__traceback__) if is_student_file(f.filename)]


def _raised_by_submission(exc: BaseException) -> bool:
    """A ``GraderBug`` the submission raised itself: one from the sandboxed child, or, in
    process (where student code runs here), one whose innermost frame is a student file (see
    ``plugin.made_by_submission``)."""
    if getattr(exc, "_lk_cref", None) is not None:
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    return not _sandboxed and bool(frames) and is_student_file(frames[-1].filename)


def _import_error(package: str, exc: BaseException) -> SubmissionError:
    frames = _student_frames(exc)
    where = f" at {display_path(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
    return SubmissionError(
        f"{package} does not import: {type(exc).__name__}: {exc}{where}. Fix the error "
        f"(try `python -c 'import {package}'` inside the submission folder).")


# ----- --sandbox (issue 8, labkit.sandbox): this process never imports student code -------------
_sandboxed = False


def use_sandbox(on: bool = True) -> None:
    """Import lab packages in a confined child process; the graders get proxy modules."""
    global _sandboxed
    _sandboxed = on
    if on and _impl_dir is not None and str(_impl_dir) in sys.path:
        sys.path.remove(str(_impl_dir))
    _cache.clear()


def _sandboxed_import(root: Path, package: str) -> ModuleType:
    from ..sandbox import load_remote

    return load_remote(root, package)
# ----- end of the --sandbox hook -----------------------------------------------------------------
