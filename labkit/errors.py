"""The errors labkit raises, split by whose fault they are.

* ``StudentCodeError``: the code under test raised inside a handler, or broke the node
  contract (a payload that is not JSON, a second reply to one request). The message names the
  student's file and line.
* ``PropertyViolation``: a checker found a run that breaks a property. It carries the property
  name and the evidence.
* ``BudgetExceeded``: a run used more events or virtual time than its budget allows: a message
  storm, a livelock, or a scenario that never finishes.
* ``SubmissionError``: the submission itself is unusable (does not import, lacks a class).
* ``GraderBug``: an internal error of labkit or of a grader: not the student's fault.
"""

from __future__ import annotations


class LabkitError(Exception):
    """Base class of every error labkit raises on purpose."""


class StudentCodeError(LabkitError):
    """A student handler raised, or used the node API in a way the contract forbids.

    ``where`` is "path:line" of the innermost frame in student code (or "" if unknown);
    ``node`` and ``event`` say which node was handling what, at virtual time ``time``.
    """

    def __init__(self, message: str, *, node: str = "", event: str = "", time: float = 0.0,
                 where: str = "", cause: BaseException | None = None, student_traceback: str = ""):
        super().__init__(message)
        self.node = node
        self.event = event
        self.time = time
        self.where = where
        self.cause = cause
        self.student_traceback = student_traceback

    @property
    def not_implemented(self) -> bool:
        """True when the handler raised ``NotImplementedError`` (an untouched starter)."""
        return isinstance(self.cause, NotImplementedError)


class ContractError(LabkitError):
    """Raised *inside* a student handler when it misuses the node API.

    The simulator turns it into a ``StudentCodeError`` that points at the offending line.
    """


class PropertyViolation(LabkitError):
    """A checked property does not hold. ``prop`` names it; ``evidence`` says why; ``details``
    is optional JSON data the failure record keeps (e.g. ``{"linearizability": ...}``, shown
    by the trace viewer)."""

    def __init__(self, prop: str, evidence: str, *, time: float | None = None,
                 nodes: tuple[str, ...] = (), details: dict | None = None):
        at = f" at t={time:.3f}s" if time is not None else ""
        super().__init__(f"{prop} violated{at}: {evidence}")
        self.prop = prop
        self.evidence = evidence
        self.time = time
        self.nodes = nodes
        self.details = details or {}   # JSON data for the failure record (the trace viewer)


class BudgetExceeded(LabkitError):
    """The run went past its event or virtual-time budget."""


class SubmissionError(LabkitError):
    """The submission cannot be graded (import error, missing class, missing folder)."""


class GraderBug(LabkitError):
    """labkit or a grader is broken. Not the student's fault: report it to the course staff."""
