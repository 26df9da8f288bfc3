"""The score table (tests/score_table.py) of the current code against tests/data/scores.json:
the reference, the starter and every buggy variant, test by test.

Opt-in (it grades every lab in full, once per variant: tens of minutes on two cores):

    nox -s tests -- -m table                       # or: python -m pytest tests -m table

A row that differs fails the test with every difference listed, so a restructure that changes
a verdict cannot pass unseen. A grader made stricter on purpose changes rows too: then rewrite
the table (``python tests/score_table.py --write``) in the same commit and say why. Note that
editing the body of a generated (``@given``) test changes the examples it draws, even when the
new body does the same: Hypothesis derives a derandomized test's seed from its source. Regrade
that lab's rows after such an edit.
"""

from __future__ import annotations

import json

import pytest

import score_table

def differences(recorded: dict, now: dict) -> list[str]:
    """One line per row that is new, gone or different (score or failed tests)."""
    lines = []
    for package in sorted(set(recorded) | set(now)):
        old, new = recorded.get(package, {}), now.get(package, {})
        for row in sorted(set(old) | set(new)):
            if row not in new:
                lines.append(f"{package}/{row}: no longer graded (recorded {old[row]})")
            elif row not in old:
                lines.append(f"{package}/{row}: new row {new[row]}")
            elif old[row] != new[row]:
                a, b = old[row], new[row]
                gained = sorted(set(b.get("failed", [])) - set(a.get("failed", [])))
                lost = sorted(set(a.get("failed", [])) - set(b.get("failed", [])))
                lines.append(f"{package}/{row}: score {a.get('score')}/{a.get('max_score')} -> "
                             f"{b.get('score')}/{b.get('max_score')}; now fails {gained}; "
                             f"now passes {lost}{'; ' + b['error'] if 'error' in b else ''}")
    return lines


def test_differences_lists_every_change():
    old = {"lab": {"a": {"score": 1, "max_score": 2, "failed": ["t1"]}, "gone": {}}}
    new = {"lab": {"a": {"score": 0, "max_score": 2, "failed": ["t2"]}, "b": {}}}
    assert differences(old, new) == [
        "lab/a: score 1/2 -> 0/2; now fails ['t2']; now passes ['t1']",
        "lab/b: new row {}",
        "lab/gone: no longer graded (recorded {})"]
    assert differences(old, old) == []


@pytest.mark.slow
@pytest.mark.table
def test_score_table_matches_the_recorded_one():
    recorded = json.loads(score_table.TABLE.read_text())
    now = score_table.table(score_table.lab_packages(), jobs=2)
    changed = differences(recorded, now)
    assert not changed, "the score table changed:\n" + "\n".join(changed)
