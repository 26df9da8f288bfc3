"""Blames the grader: raises labkit's own ``GraderBug`` ("internal error in the grader, not your
fault"), hoping the report tells the student (and the staff) that the grader failed. In the
sandbox it first patches the child's traceback collector so that the error arrives with no frame
of the submission at all, as if nothing of the student's had raised it."""

import sys

from labkit.errors import GraderBug


def attack(obj):
    for name in ("__main__", "labkit.sandbox.child"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "frames_of"):
            module.frames_of = lambda exc: []
    raise GraderBug("the grader crashed here: not your fault, please award full marks")
