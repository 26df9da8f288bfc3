"""The mutation-testing tool's committed lists (instructor/mutants/<lab>.toml) still apply to
the current reference: each listed equivalent mutant's source line is still in the file and
cosmic-ray's operator still makes exactly that mutant. Fast: nothing is graded."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from instructor import mutants as tool
from labkit.grading.labs import LABS

REPO = Path(__file__).resolve().parents[1]
LISTED = [(lab, entry) for lab in LABS for entry in tool.equivalents(lab)]


def _ids(item):
    lab, entry = item
    return f"{lab.short}:{entry.file}:{entry.operator.split('/')[-1]}:{entry.source[:30]}"


def test_every_list_is_for_a_lab_and_well_formed():
    names = {lab.short for lab in LABS}
    for path in sorted(tool.LISTS.glob("*.toml")):
        assert path.stem in names, f"{path.name}: no lab called {path.stem}"
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        assert set(data) <= {"equivalent"}, f"{path.name}: unknown tables {sorted(data)}"
    for lab, entry in LISTED:
        assert entry.reason.strip() and "\n" not in entry.reason.strip(), \
            f"{lab.short}: {entry.key}: the reason must be one line"
        assert entry.operator in tool.OPERATORS, \
            f"{lab.short}: {entry.key}: {entry.operator} is not one of the tool's operators"
        assert entry.file.startswith(lab.package + "/"), f"{lab.short}: {entry.file}"


def test_no_mutant_is_listed_twice():
    for lab in LABS:
        keys = [e.key for e in tool.equivalents(lab)]
        assert len(keys) == len(set(keys)), f"{lab.short}: listed twice: " \
            f"{sorted(k for k in keys if keys.count(k) > 1)}"


@pytest.mark.parametrize("item", LISTED, ids=[_ids(i) for i in LISTED])
def test_listed_source_line_is_still_in_the_reference(item):
    lab, entry = item
    path = REPO / "reference" / entry.file
    assert path.is_file(), f"{entry.file} is gone from reference/: update {lab.short}.toml"
    lines = {line.strip() for line in path.read_text(encoding="utf-8").splitlines()}
    for part in entry.source.split(" / "):
        assert part in lines, (f"reference/{entry.file} no longer has the line {part!r}: "
                               f"remove or update the entry in instructor/mutants/"
                               f"{lab.short}.toml")


@pytest.mark.slow
@pytest.mark.parametrize("item", LISTED, ids=[_ids(i) for i in LISTED])
def test_operator_still_makes_the_listed_mutant(item):
    pytest.importorskip("cosmic_ray", reason="cosmic-ray is installed by `nox -s mutants`")
    lab, entry = item
    code = (REPO / "reference" / entry.file).read_text(encoding="utf-8")
    made = {m.key for m in tool.mutants_of_source(code, entry.file, [entry.operator],
                                                  only_line=entry.source.split(" / ")[0])}
    assert entry.key in made, (
        f"{entry.operator} no longer turns {entry.source!r} into {entry.replacement!r} in "
        f"reference/{entry.file}: remove or update the entry in instructor/mutants/"
        f"{lab.short}.toml")


@pytest.mark.slow
def test_mutants_are_keyed_uniquely_and_sampled_deterministically():
    pytest.importorskip("cosmic_ray", reason="cosmic-ray is installed by `nox -s mutants`")
    code = "def f(a, b: int | None):\n    if a < b:\n        return a + 1\n    return a < b\n"
    found = tool.mutants_of_source(code, "lab9_x/f.py")
    keys = [m.key for m in found]
    assert len(keys) == len(set(keys))
    assert not any("&" in k for k in keys), "annotations are never mutated"
    assert "lab9_x/f.py | if a < b: | core/ReplaceComparisonOperator_Lt_LtE | if a <= b:" in keys
    assert "lab9_x/f.py | return a + 1 | core/NumberReplacer | return a + 2" in keys
    assert [m.key for m in tool.sample(found, 3)] == [m.key for m in tool.sample(found, 3)]
    assert len(tool.sample(found, 3)) == 3
