"""Grading: the pytest plugin, the loader for ``--impl``, the lab registry, the score report.

Grader suites use ``lab_fixture`` to get the code under test:

    # graders/<package>/conftest.py
    from labkit.grading import lab_fixture
    lab = lab_fixture("<package>")     # a session fixture: the imported lab package

Each lab declares itself in ``graders/<package>/lab.py`` (see ``labs``); labkit names no lab.
"""

from __future__ import annotations

from .labs import LABS, Lab, find_lab
from .loader import load_lab, require


def lab_fixture(package: str):
    """A session-scoped fixture that imports ``package`` from ``--impl`` (or fails the test
    with a ``SubmissionError`` that names the file and line)."""
    import pytest  # here, not at the top: noxfile.py imports labkit.grading.labs without pytest

    @pytest.fixture(scope="session", name="lab")
    def lab():
        return load_lab(package)

    return lab


__all__ = ["LABS", "Lab", "find_lab", "load_lab", "require", "lab_fixture"]
