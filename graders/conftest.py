"""Loads the grading plugin for every grader suite (points, --impl, the score report).

Only this folder is ever collected when grading; see labkit/grading/plugin.py.
"""

from labkit.grading.plugin import (pytest_addoption, pytest_collection_modifyitems,  # noqa: F401
                                   pytest_configure, pytest_runtest_makereport,
                                   pytest_sessionfinish, pytest_terminal_summary)
