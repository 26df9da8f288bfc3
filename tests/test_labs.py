"""Every lab's graders against its reference (full marks), its untouched starter (0, every test
"not implemented yet") and each buggy variant under ``tests/buggy/<package>/`` (the tests its
docstring names fail, with the evidence it names: see ``graderun``'s module doc).

The labs are the ones labkit discovers (``labkit.grading.labs``) that have a reference; the
variants are the folders. Adding a lab or a variant means adding its folders, nothing here.
Each grading is a subprocess (``slow``); the checks of the variants' docstrings are fast.
Lab-specific checks (rubric against the handout, constants, determinism, checkers) stay in
``tests/test_<package>.py``. The live tests are left out (tests/test_live.py runs them).
"""

from __future__ import annotations

import re

import pytest

from graderun import BUGGY, REPO, caught_by, grade, reference_run, variants
from labkit.grading.labs import labs

NOT_LIVE = ("-m", "not live")
PACKAGES = [lab.package for lab in labs() if (REPO / "reference" / lab.package).is_dir()]
VARIANTS = [(package, path.name) for package in PACKAGES for path in variants(package)]
# One reference run per lab and process (graderun.reference_run): the tests elsewhere that read
# it are in the same xdist group, so they run on the same worker and share it.
REFERENCES = [pytest.param(package, marks=pytest.mark.xdist_group(f"reference-{package}"))
              for package in PACKAGES]


def variant_id(case: tuple[str, str]) -> str:
    return "/".join(case)


def grader_test_names(package: str) -> set[str]:
    """The test functions defined in the lab's grader files (read, not imported)."""
    return {name for path in (REPO / "graders" / package).glob("test_*.py")
            for name in re.findall(r"^def (test_\w+)\(", path.read_text(), re.MULTILINE)}


@pytest.mark.slow
@pytest.mark.parametrize("package", REFERENCES)
def test_reference_scores_full_marks(package, tmp_path_factory):
    run = reference_run(package, str(tmp_path_factory.getbasetemp()))
    failed = "\n\n".join(f"{t['name']}:\n{t['output'][:1500]}" for t in run.failed())
    assert not failed, f"the reference lost points:\n{failed}"
    assert run.score == run.max_score > 0, (run.score, run.max_score)
    handout = (REPO / "assignments").glob(f"{package.split('_')[0]}-*.md")
    for path in handout:  # "**N points**" in the handout, when it states the total
        stated = re.search(r"\*\*(\d+) points\.?\*\*", path.read_text())
        if stated:
            assert run.max_score == int(stated.group(1)), (path.name, run.max_score)


@pytest.mark.slow
@pytest.mark.parametrize("package", PACKAGES)
def test_starter_scores_zero_with_not_implemented_notes(package, tmp_path):
    run = grade(package, "starter", tmp_path, *NOT_LIVE)
    assert run.score == 0, f"the starter scored {run.score}"
    assert run.report["tests"], "no test was graded"
    for test in run.report["tests"]:
        assert test["status"] == "failed", test["name"]
        assert test["output"].startswith("not implemented yet"), (test["name"], test["output"])
        assert "Traceback" not in test["output"], (test["name"], test["output"])


@pytest.mark.parametrize("case", VARIANTS, ids=variant_id)
def test_variant_says_how_it_is_caught(case):
    """Its docstring names grader tests that exist, and evidence for the first (fast)."""
    package, name = case
    caught = caught_by(BUGGY / package / name, package)
    unknown = set(caught.tests) - grader_test_names(package)
    assert not unknown, f"{name}: no grader test called {sorted(unknown)} in graders/{package}"


@pytest.mark.slow
@pytest.mark.parametrize("case", VARIANTS, ids=variant_id)
def test_variant_is_caught(case, tmp_path):
    package, name = case
    caught = caught_by(BUGGY / package / name, package)
    run = grade(package, BUGGY / package / name, tmp_path, "-k", " or ".join(caught.tests),
                *NOT_LIVE)
    for test in caught.tests:
        result = run.test(test)
        output = result["output"]
        assert result["status"] == "failed", f"{name} passed {test}:\n{run.stdout[-3000:]}"
        assert not output.startswith(("internal error", "not implemented")), output[:3000]
        wanted = caught.evidence.get(test, [])
        if not any("not deterministic" in text for text in wanted):
            assert "not deterministic" not in output, output[:3000]
        for text in wanted:
            assert text in output, f"{test} did not say {text!r}:\n{output[:3000]}"
        for pattern in caught.patterns.get(test, []):
            assert re.search(pattern, output), f"{test} did not match {pattern!r}:\n{output}"


def test_every_lab_with_a_reference_has_variants():
    """At least five known bugs per lab, so that "every variant is caught" means something."""
    assert PACKAGES, "no lab discovered"
    for package in PACKAGES:
        assert len(variants(package)) >= 5, package
