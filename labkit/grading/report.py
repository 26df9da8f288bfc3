"""The score report: a terminal table per lab, ``score.json`` (Gradescope's results.json
schema) and ``score.md``. Pure functions over a list of ``TestResult``.

A test's number is its row in the handout's rubric table (``## N. Rubric``: rows
``| name | points | ... |``, part headings in bold are not counted), looked up by the test
function's name when the row carries it (`` `test_...` ``) or else by the test's name (its
docstring's first line). So a number never moves under ``-k`` or ``-m``. A test that is in no
rubric row is numbered after the rubric's rows, in collection order.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .labs import BY_NAME, LABS, REPO

RUBRIC_ROW = re.compile(r"^\| (.+?) \| (\d+) \|(.*)$")
K_NAME = re.compile(r"`(?:-k )?(test_\w+)`")
REFERENCE_TIMES = "reference_times.json"  # in each lab's grader folder


@dataclass
class TestResult:
    nodeid: str
    lab: str              # the lab's package name (its folder in graders/)
    name: str             # what the student sees: the docstring's first line
    max_score: float
    score: float = 0.0
    status: str = "failed"  # "passed" | "failed"
    output: str = ""
    tags: list[str] = field(default_factory=list)
    duration: float = 0.0
    number: str = ""
    function: str = ""    # the test function's name: what to pass to -k
    started: float = 0.0  # time.monotonic() when the test started (for timeout messages)


def lab_totals(results: list[TestResult]) -> list[tuple[str, float, float]]:
    """``(package, score, max_score)`` per lab present in ``results``, in course order."""
    order = {lab.package: i for i, lab in enumerate(LABS)}
    labs = sorted({r.lab for r in results}, key=lambda p: (order.get(p, 99), p))
    return [(p, sum(r.score for r in results if r.lab == p),
             sum(r.max_score for r in results if r.lab == p)) for p in labs]


@lru_cache(maxsize=None)
def rubric(package: str) -> tuple[dict[str, int], dict[str, int]]:
    """``(by function name, by test name)`` -> position (1, 2, ...) in the lab's rubric."""
    lab = BY_NAME.get(package)
    path = REPO / lab.handout if lab else None
    if path is None or not path.is_file():
        return {}, {}
    text = path.read_text(encoding="utf-8")
    section = re.split(r"^## .*Rubric.*$", text, maxsplit=1, flags=re.MULTILINE)
    body = re.split(r"^## ", section[1], maxsplit=1, flags=re.MULTILINE)[0] \
        if len(section) > 1 else ""
    by_function: dict[str, int] = {}
    by_name: dict[str, int] = {}
    position = 0
    for line in body.splitlines():
        row = RUBRIC_ROW.match(line)
        if not row or row.group(1).startswith("**"):
            continue
        position += 1
        by_name.setdefault(row.group(1).strip(), position)
        for function in K_NAME.findall(row.group(3)):
            by_function.setdefault(function, position)
    return by_function, by_name


def number_tests(results: list[TestResult], everything: list[TestResult] | None = None) -> None:
    """Give each test its Gradescope number "<lab>.<row>" from the handout's rubric; tests in no
    row get the numbers after the rubric's, in the order of ``everything`` (all collected tests,
    before -k / -m), so the number of a test does not depend on the selection."""
    numbers: dict[str, str] = {}
    extra: dict[str, int] = {}
    for r in everything if everything is not None else results:
        lab = BY_NAME.get(r.lab)
        by_function, by_name = rubric(r.lab)
        position = by_function.get(r.function) or by_name.get(r.name)
        if position is None:
            last = max([*by_function.values(), *by_name.values(), 0])
            extra[r.lab] = extra.get(r.lab, last) + 1
            position = extra[r.lab]
        numbers[r.nodeid] = f"{lab.number if lab else 9}.{position}"
    for r in results:
        r.number = numbers.get(r.nodeid, r.number)


@lru_cache(maxsize=None)
def _reference_times(package: str) -> dict:
    lab = BY_NAME.get(package)
    try:
        return json.loads((lab.grader_dir / REFERENCE_TIMES).read_text()) if lab else {}
    except (OSError, ValueError):
        return {}


def reference_seconds(package: str, function: str) -> float | None:
    """How long the reference takes on this test (recorded on the course machine, in the lab's
    ``graders/<lab>/reference_times.json``), if known."""
    value = _reference_times(package).get(function)
    return float(value) if isinstance(value, (int, float)) else None


def to_gradescope(results: list[TestResult], execution_time: float, impl: str,
                  warnings: list[str] = (), run: dict | None = None) -> dict:
    score = sum(r.score for r in results)
    max_score = sum(r.max_score for r in results)
    summary = "; ".join(f"{_title(p)}: {s:g}/{m:g}" for p, s, m in lab_totals(results))
    notes = "".join(f"\nWarning: {w}" for w in warnings)
    return {
        "score": score,
        "max_score": max_score,
        "execution_time": round(execution_time, 3),
        "output": f"Graded {impl}. {summary}{notes}",
        "visibility": "visible",
        "tests": [{
            "name": r.name,
            "number": r.number,
            "score": r.score,
            "max_score": r.max_score,
            "status": r.status,
            "output": r.output,
            "tags": r.tags,
            "visibility": "visible",
        } for r in results],
        "extra_data": {"labs": {p: {"score": s, "max_score": m}
                                for p, s, m in lab_totals(results)},
                       "impl": impl,
                       "run": dict(run or {}),
                       "nodeids": [r.nodeid for r in results],
                       "functions": [r.function for r in results],
                       "durations": [round(r.duration, 3) for r in results]},
    }


def to_markdown(results: list[TestResult], impl: str, warnings: list[str] = (),
                run: dict | None = None) -> str:
    lines = ["# Score report", "", f"Code under test: `{impl}`", ""]
    if run:
        lines += [f"Run {run.get('id', '')}, {run.get('time', '')}", ""]
    if warnings:
        lines += ["Warnings (no points taken; these usually break determinism):", ""]
        lines += [f"- {w}" for w in warnings] + [""]
    for p, s, m in lab_totals(results):
        lines += [f"## {_title(p)}: {s:g} / {m:g}", "",
                  "| # | test | points | result | run it alone with |", "|---|---|---|---|---|"]
        for r in results:
            if r.lab == p:
                mark = "pass" if r.status == "passed" else "FAIL"
                lines.append(f"| {r.number} | {r.name} | {r.score:g} / {r.max_score:g} | {mark} "
                             f"| `-k {r.function}` |")
        lines.append("")
        for r in results:
            if r.lab == p and r.output:
                lines += [f"### {r.number} {r.name}", "", "```", r.output.rstrip(), "```", ""]
    total = sum(r.score for r in results)
    lines.append(f"**Total: {total:g} / {sum(r.max_score for r in results):g}**")
    return "\n".join(lines) + "\n"


def to_terminal(results: list[TestResult], width: int = 100, full_messages: int = 3) -> list[str]:
    """The score table; when at most ``full_messages`` tests failed (say, one test run with
    ``-k``), their whole messages follow it, else the first line of each is shown inline."""
    failed = [r for r in results if r.status != "passed"]
    full = 0 < len(failed) <= full_messages
    out: list[str] = []
    for p, s, m in lab_totals(results):
        out.append("")
        out.append(f"{_title(p):<{width - 14}}{s:>6g} / {m:<5g}")
        for r in results:
            if r.lab != p:
                continue
            mark = "ok " if r.status == "passed" else "-- "
            name = r.name if len(r.name) <= width - 24 else r.name[: width - 27] + "..."
            out.append(f"  {mark}{r.number:<6}{name:<{width - 24}}{r.score:>5g} / {r.max_score:<4g}")
            if r.status != "passed" and r.output and not full:
                lines = r.output.strip().splitlines()
                out.append(f"         {lines[0][: width - 9]}")
                if r.function:
                    out.append(f"         alone: -k {r.function}")
                out += [f"         {line.strip()}" for line in lines if "nox -s replay --" in line]
    total = sum(r.score for r in results)
    max_total = sum(r.max_score for r in results)
    out.append("")
    out.append(f"{'TOTAL':<{width - 14}}{total:>6g} / {max_total:<5g}")
    for r in failed if full else []:
        out += ["", f"{r.number} {r.name} (-k {r.function}):"] + \
            [f"  {line}" for line in r.output.rstrip().splitlines()]
    return out


def write_reports(results: list[TestResult], report_dir: Path, execution_time: float,
                  impl: str, warnings: list[str] = (), run: dict | None = None) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    json_path = report_dir / "score.json"
    md_path = report_dir / "score.md"
    json_path.write_text(json.dumps(to_gradescope(results, execution_time, impl, warnings, run),
                                    indent=2) + "\n")
    md_path.write_text(to_markdown(results, impl, warnings, run))
    return json_path, md_path


def _title(package: str) -> str:
    lab = BY_NAME.get(package)
    return f"Lab {lab.number}: {lab.title}" if lab else package


def record_reference_times(reports: list[Path]) -> dict:
    """Merge the per-test durations of reference runs' score.json files into each lab's
    ``graders/<lab>/reference_times.json`` (what the timeout message quotes as "the reference
    needs M s"); returns {package: {function: seconds}} of what was read."""
    table: dict = {}
    for path in reports:
        report = json.loads(path.read_text())
        extra = report.get("extra_data", {})
        for nodeid, function, seconds in zip(extra.get("nodeids", []), extra.get("functions", []),
                                             extra.get("durations", [])):
            lab = next((p for p in nodeid.split("/") if p in BY_NAME), None)
            if lab is not None:
                table.setdefault(BY_NAME[lab].package, {})[function] = round(seconds, 1)
    for package, times in table.items():
        out = BY_NAME[package].grader_dir / REFERENCE_TIMES
        merged = {**(json.loads(out.read_text()) if out.exists() else {}), **times}
        out.write_text(json.dumps(merged, indent=1, sort_keys=True) + "\n")
        _reference_times.cache_clear()
    return table


if __name__ == "__main__":  # python -m labkit.grading.report reports/score.json ...
    import sys

    record_reference_times([Path(p) for p in sys.argv[1:]])
