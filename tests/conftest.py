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
free ports, so none needs the machine to itself.
"""

collect_ignore = ["fakelab", "buggy"]
