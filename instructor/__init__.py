"""Instructor workflow: release the student repository, grade a class, build the Gradescope
autograder.

* ``release``: ``nox -s release -- DIR`` writes the student repository (everything but
  ``reference/`` and the instructor-only tests), proves its ``nox -s grade`` scores the starters
  0 cleanly, and proves no reference function body leaked (``leaks``: normalised ASTs);
* ``grade_class``: ``nox -s grade_class -- SUBMISSIONS`` grades every submission in its own
  limited process with student code sandboxed (``labkit.sandbox``), into ``gradebook.csv``;
* ``classroom``: the GitHub Classroom workflow ``release`` writes into the student repository
  (one grading step per lab, each test's points to the Classroom reporter);
* ``cluster``: where ``grade_class`` runs its jobs: the local pool, or a Dask cluster
  (``--scheduler ADDRESS``; ``remote_job`` is the job on a worker);
* ``gradescope``: ``nox -s gradescope -- OUT.zip`` builds the autograder bundle;
* ``sample_class``: a class of sample submissions (reference, starter, buggy, hostile, broken)
  to try ``grade_class`` on.

Shared pieces: ``submissions`` (what a submission is, safe unzipping), ``jobs`` (grading one
submission in a limited process, failing closed), ``progress`` (the progress bar).
"""
