"""Whose fault is it: locating student code in a traceback, and wrapping a handler's error.

A node's handler runs inside a runtime (the simulator, the live process, the sandbox child).
When it raises, the runtime wraps the exception with ``student_error``: the text names the
node, the event it was handling, the virtual time, and the innermost frame of the student's
own files (not labkit's, not Python's), so the failure points at the line to fix.
"""

from __future__ import annotations

import json
import sysconfig
import traceback
from pathlib import Path
from typing import Any

from .errors import BudgetExceeded, ContractError, PropertyViolation, StudentCodeError

__all__ = ["is_student_file", "display_path", "describe_event", "student_error"]

_LABKIT_DIR = str(Path(__file__).resolve().parent)
_SYSTEM_DIRS = tuple({str(Path(p).resolve()) for p in (sysconfig.get_paths()["stdlib"],
                                                        sysconfig.get_paths()["purelib"],
                                                        sysconfig.get_paths()["platlib"])})


def is_student_file(filename: str) -> bool:
    """True for files that are neither labkit's nor Python's own (stdlib, site-packages)."""
    if filename.startswith("<"):
        return False
    path = str(Path(filename).resolve())
    return not path.startswith(_LABKIT_DIR) and not path.startswith(_SYSTEM_DIRS)


def display_path(filename: str) -> str:
    """``filename`` relative to the working directory when it is under it."""
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd()))
    except ValueError:
        return filename


def describe_event(what: Any) -> str:
    """What a handler was handling: ``("message", src, json)``, ``("timer", name)``,
    ``("request", body)``, or any other value shown as text ("on_start", "construction")."""
    if isinstance(what, tuple):
        if what[0] == "message":
            return f"a message from {what[1]}: {what[2][:200]}"
        if what[0] == "timer":
            return f"timer {what[1]!r}"
        if what[0] == "request":
            return f"client request {json.dumps(what[1])[:200]}"
    return str(what)


def student_error(exc: BaseException, node: str, what: Any, time: float) -> StudentCodeError:
    """Wrap an exception raised in a handler, pointing at the innermost student frame."""
    if isinstance(exc, (StudentCodeError, PropertyViolation, BudgetExceeded)):
        return exc  # already attributed (e.g. nested), or a checker's verdict
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if is_student_file(f.filename)]
    where = ""
    lines = []
    for f in frames:
        lines.append(f'  File "{display_path(f.filename)}", line {f.lineno}, in {f.name}\n'
                     f"    {(f.line or '').strip()}")
    if frames:
        last = frames[-1]
        where = f"{display_path(last.filename)}:{last.lineno}"
    name = type(exc).__name__
    text = str(exc)
    if isinstance(exc, NotImplementedError):
        head = f"not implemented yet: {text or 'a handler'} (called on {node} for {describe_event(what)})"
    elif isinstance(exc, ContractError):
        head = f"{node} broke the node contract while handling {describe_event(what)} at t={time:.3f}s: {text}"
    else:
        head = f"{node} raised {name}: {text} while handling {describe_event(what)} at t={time:.3f}s"
    tb = "\n".join(lines)
    message = head + (f"\n  at {where}" if where else "") + (f"\n{tb}" if tb else "")
    return StudentCodeError(message, node=node, event=describe_event(what), time=time, where=where,
                            cause=exc, student_traceback=tb)
