"""Lab 2, Part 7 (snapshots) is an addition: a solution of Parts 1-6 alone keeps every point of
Parts 1-6 and loses only Part 7's, and the untouched starter's Part 7 tests say "not
implemented yet" (tests/test_labs.py checks that for every test).

The solution of Parts 1-6 is the reference as it was before Part 7 (no snapshot method, no
install_snapshot), kept as a fixture in tests/buggy/lab2_raft/_parts_abc/ (a folder starting
with "_" is not a buggy variant)."""

from __future__ import annotations

import re

import pytest

from graderun import BUGGY, REPO, grade

PACKAGE = "lab2_raft"
PART7 = REPO / "graders" / PACKAGE / "test_snapshots.py"


def part7_tests() -> set[str]:
    return set(re.findall(r"^def (test_\w+)\(", PART7.read_text(), re.MULTILINE))


@pytest.mark.slow
def test_parts_1_to_6_alone_lose_only_part_7(tmp_path):
    run = grade(PACKAGE, BUGGY / PACKAGE / "_parts_abc", tmp_path, "-m", "not live",
                timeout=1500)
    ids = run.report["extra_data"]["nodeids"]
    part7 = part7_tests()
    assert len(part7) == 8, sorted(part7)
    seen = set()
    for test, nodeid in zip(run.report["tests"], ids):
        name = nodeid.rsplit("::", 1)[-1]
        if name in part7:
            seen.add(name)
            assert test["status"] == "failed", f"{name} passed without snapshots"
            assert test["output"].startswith("not implemented yet"), (name, test["output"][:500])
        else:
            assert test["status"] == "passed", (name, test["output"][:2000])
    assert seen == part7, sorted(part7 - seen)
    lost = run.max_score - run.score
    assert lost == sum(t["max_score"] for t, i in zip(run.report["tests"], ids)
                       if i.rsplit("::", 1)[-1] in part7) == 40, lost
