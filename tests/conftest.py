"""The project's tests, in tiers (markers declared in pyproject.toml):

* fast (``-m "not slow"``): labkit, the checkers, the harnesses in-process, the variants'
  docstrings; no subprocess. Under a minute on two cores: run it while working on labkit.
* ``slow``: anything that starts a program: grader suites on the reference, the starter and
  each buggy variant (tests/test_labs.py), the plugin end to end, the sandbox, live clusters,
  the browser, the instructor tools. Mark a new test ``slow`` when it starts a subprocess.
* ``table`` (opt-in, also ``slow``): the score table against tests/data/scores.json.

``nox -s tests`` runs everything but ``table``, two tests at a time (pytest-xdist,
``--dist loadgroup``: tests in one ``xdist_group`` share a worker, e.g. those that read one
reference run, ``graderun.reference_run``). Every test gets its own temporary folders and
free ports, so none needs the machine to itself. A ``slow`` test may take up to
``SLOW_TIMEOUT`` (below); the grader runs it starts get ``-o timeout=600`` per grader test
(``graderun.grade``) for the same reason: on a loaded machine the 60 s default fails tests
that are merely slow.
"""

import pytest

collect_ignore = ["fakelab", "buggy"]

SLOW_TIMEOUT = 1800   # seconds: a slow test waits for programs, which a loaded machine slows down


def pytest_collection_modifyitems(config, items):
    """A ``slow`` test without a ``timeout`` marker of its own gets ``SLOW_TIMEOUT`` instead of
    the 60 s default (pyproject.toml), so that load never fakes a failure."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT))
