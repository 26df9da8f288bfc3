"""The README's lab table states the points each handout states (and each handout's total is
checked against its graders in tests/test_<lab>.py)."""

from __future__ import annotations

import re

from graderun import REPO
from labkit.grading.labs import labs


def test_readme_points_match_the_handouts():
    readme = (REPO / "README.md").read_text()
    overview = (REPO / "assignments" / "README.md").read_text()
    for lab in labs():
        handout = (REPO / lab.handout).read_text()
        total = re.search(r"\*\*(\d+) points\.?\*\*", handout)
        assert total, f"{lab.handout} states no '**N points**'"
        for text, where in ((readme, "README.md"), (overview, "assignments/README.md")):
            row = re.search(rf"^\| {lab.short} \|.*\| (\d+)( \+ \d+ live)? \|$", text, re.MULTILINE)
            assert row, f"{where} has no row for {lab.short}"
            assert row.group(1) == total.group(1), (where, lab.short, row.group(1), total.group(1))
