"""Sessions: grade (students), reference (instructors), tests (maintainers, CI), bench.

    nox -s grade                       # grade starter/ on every lab; exit 0 whatever the score
    nox -s grade -- lab1               # one lab
    nox -s grade -- lab1 --impl PATH   # another folder laid out like starter/
    nox -s reference -- lab1           # the reference; exit non-zero unless full marks
    nox -s tests                       # the project's own tests
    nox -s bench                       # simulator throughput, written to reports/bench.json
    nox -s search -- lab2 [--depth N]  # every interleaving of a small cluster (labkit.search)

Everything after ``--`` that is not a lab name goes to pytest unchanged.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))
from labkit.grading.labs import available_labs, find_lab  # noqa: E402

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
# The standard library's venv: present wherever Python is. nox still probes for uv and logs
# "uv binary not found" at every session; that line tells a student nothing, so it is dropped.
nox.options.default_venv_backend = "venv"
logging.getLogger("nox").addFilter(lambda record: "uv binary not found" not in record.getMessage())
ENV = {"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
PROJECT = nox.project.load_toml(ROOT / "pyproject.toml")["project"]
DEPS = PROJECT["dependencies"]
TEST_DEPS = PROJECT["optional-dependencies"]["test"]
OPTIONS_WITH_VALUE = {"--impl", "--report-dir", "-k", "-m", "--timeout", "-p", "--maxfail"}


def _grader_args(posargs: list[str]) -> list[str]:
    """Turn lab names (lab1, lab1_cap) into grader folders; pass everything else to pytest."""
    paths, rest = [], []
    args = iter(posargs)
    for arg in args:
        if arg in OPTIONS_WITH_VALUE:
            rest += [arg, next(args, "")]
        elif re.fullmatch(r"lab\d\w*", arg):
            try:
                lab = find_lab(arg)
            except ValueError as exc:
                raise SystemExit(f"nox: {exc}") from None
            if not lab.grader_dir.is_dir():
                raise SystemExit(f"nox: {lab.short} ({lab.title}) has no graders yet")
            paths.append(str(lab.grader_dir.relative_to(ROOT)))
        else:
            rest.append(arg)
    if not paths:
        paths = [str(lab.grader_dir.relative_to(ROOT)) for lab in available_labs()] or ["graders"]
    return [*paths, "-q", "--no-header", "-rN", "--tb=no", *rest]


@nox.session
def grade(session: nox.Session) -> None:
    """Grade starter/ (or --impl PATH). A score is not an error: exits 0 whatever the score."""
    session.install(*DEPS)
    args = _grader_args(session.posargs)
    session.run("python", "-m", "pytest", *args, env=ENV, success_codes=[0, 1])


@nox.session
def reference(session: nox.Session) -> None:
    """Grade reference/; fails unless every point is earned (instructors only)."""
    session.install(*DEPS)
    args = _grader_args(session.posargs)
    session.run("python", "-m", "pytest", *args, "--impl", "reference", "--require-full-score",
                env=ENV)


@nox.session
def tests(session: nox.Session) -> None:
    """The project's own tests: labkit, the graders against reference/starter/buggy variants.

    Two at a time (pytest-xdist; tests in one xdist_group, e.g. those reading one reference
    run, share a worker). The fast tier is ``nox -s tests -- -m "not slow"``; the score table
    against tests/data/scores.json is opt-in: ``nox -s tests -- -m table`` (a later ``-m``
    replaces the default one). ``-n 0`` runs everything in this process, one at a time."""
    session.install(*DEPS, *TEST_DEPS)
    session.run("python", "-m", "pytest", "tests", "-n", "2", "--dist", "loadgroup",
                "-m", "not table", "--durations=25", *session.posargs, env=ENV)


@nox.session
def bench(session: nox.Session) -> None:
    """Throughput of the simulator and checkers; prints and writes reports/bench.json."""
    session.install(*DEPS)
    session.run("python", "-m", "labkit.bench", *session.posargs, env=ENV)


@nox.session
def search(session: nox.Session) -> None:
    """Exhaustive search of a lab's small configurations on your code (the graded searches of
    graders/<lab>/test_search.py): nox -s search -- lab2 (or lab3) [--depth N] [--test NAME]
    [--impl PATH] [--max-states N] [--max-seconds S]. Prints the verdict and states per second;
    a violation is a failure record for nox -s replay and the trace viewer."""
    parser = argparse.ArgumentParser(prog="nox -s search --")
    parser.add_argument("lab")
    parser.add_argument("--depth", type=int)
    parser.add_argument("--test")
    parser.add_argument("--impl", default="starter")
    parser.add_argument("--max-states", type=int)
    parser.add_argument("--max-seconds", type=float)
    parser.add_argument("--report-dir", default="reports")
    args = parser.parse_args(session.posargs)   # a bad option: argparse says which, exits 2
    try:
        find_lab(args.lab)
    except ValueError as exc:
        raise SystemExit(f"nox: {exc}") from None
    forwarded = [args.lab, "--impl", args.impl, "--report-dir", args.report_dir]
    for flag, value in (("--depth", args.depth), ("--test", args.test),
                        ("--max-states", args.max_states), ("--max-seconds", args.max_seconds)):
        if value is not None:
            forwarded += [flag, str(value)]
    session.install(*DEPS)
    session.run("python", "-m", "labkit.search", *forwarded, env=ENV, success_codes=[0, 1])


@nox.session
def replay(session: nox.Session) -> None:
    """Run a recorded failure again: nox -s replay -- <failure id> [--until T] [--node n2]."""
    session.install(*DEPS)
    session.run("python", "-m", "labkit.replay", *session.posargs, env=ENV)


@nox.session
def demo(session: nox.Session) -> None:
    """A live cluster of real processes: nox -s demo -- lab1 [--impl reference] [--nodes 3]
    [--port-base 5001]. Prints the URLs; Ctrl-C stops every process (assignments/live.md)."""
    session.install(*DEPS, "aiohttp>=3.9")
    session.run("python", "-m", "labkit.live", *(session.posargs or ["--help"]), env=ENV,
                interrupt_timeout=10.0, terminate_timeout=5.0)


# ----- instructors (issue 8): release the student repository, grade a class, Gradescope ---------

@nox.session
def release(session: nox.Session) -> None:
    """Write the student repository: nox -s release -- DIR [--force]. Checks that its own
    `nox -s grade` scores the starters 0 cleanly and that no reference code leaked; writes its
    GitHub Classroom workflow (.github/workflows/classroom.yml, one step per lab)."""
    session.install(*DEPS, "nox")
    session.run("python", "-m", "instructor.release", *session.posargs, env=ENV)


@nox.session
def grade_class(session: nox.Session) -> None:
    """Grade every submission (folder or zip) of a folder, sandboxed, into a gradebook:
    nox -s grade_class -- SUBMISSIONS [--jobs N] [--resume] [--out DIR] [--labs lab1,lab2]
    [--scheduler tcp://HOST:8786 | local:N] (a Dask cluster; docs/instructors.md)."""
    session.install(*DEPS, *PROJECT["optional-dependencies"]["instructor"])
    session.run("python", "-m", "instructor.grade_class", *session.posargs, env=ENV)


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation testing of the graders (issue 13): nox -s mutants -- lab2 [--sample N]
    [--max-minutes M] [--timeout S] [--survivors]. Grades cosmic-ray mutants of a copy of
    reference/<lab>; writes reports/mutants/<lab>.md and .json."""
    session.install(*DEPS, "cosmic-ray==8.7.0")
    session.run("python", "-m", "instructor.mutants", *session.posargs, env=ENV)


@nox.session
def gradescope(session: nox.Session) -> None:
    """Build the Gradescope autograder bundle: nox -s gradescope -- OUT.zip [--labs lab2]."""
    session.install(*DEPS)
    session.run("python", "-m", "instructor.gradescope", *session.posargs, env=ENV)
