"""The score report: a terminal table per lab, ``score.json`` (Gradescope's results.json
schema) and ``score.md``. Pure functions over a list of ``TestResult``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .labs import BY_NAME, LABS


@dataclass
class TestResult:
    nodeid: str
    lab: str              # package name, e.g. "lab1_cap"
    name: str             # what the student sees: the docstring's first line
    max_score: float
    score: float = 0.0
    status: str = "failed"  # "passed" | "failed"
    output: str = ""
    tags: list[str] = field(default_factory=list)
    duration: float = 0.0
    number: str = ""


def lab_totals(results: list[TestResult]) -> list[tuple[str, float, float]]:
    """``(package, score, max_score)`` per lab present in ``results``, in course order."""
    order = {lab.package: i for i, lab in enumerate(LABS)}
    labs = sorted({r.lab for r in results}, key=lambda p: (order.get(p, 99), p))
    return [(p, sum(r.score for r in results if r.lab == p),
             sum(r.max_score for r in results if r.lab == p)) for p in labs]


def number_tests(results: list[TestResult]) -> None:
    """Give each test a Gradescope number "<lab>.<i>" in collection order."""
    counters: dict[str, int] = {}
    for r in results:
        counters[r.lab] = counters.get(r.lab, 0) + 1
        lab = BY_NAME.get(r.lab)
        r.number = f"{lab.number if lab else 9}.{counters[r.lab]}"


def to_gradescope(results: list[TestResult], execution_time: float, impl: str,
                  warnings: list[str] = ()) -> dict:
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
                       "nodeids": [r.nodeid for r in results]},
    }


def to_markdown(results: list[TestResult], impl: str, warnings: list[str] = ()) -> str:
    lines = ["# Score report", "", f"Code under test: `{impl}`", ""]
    if warnings:
        lines += ["Warnings (no points taken; these usually break determinism):", ""]
        lines += [f"- {w}" for w in warnings] + [""]
    for p, s, m in lab_totals(results):
        lines += [f"## {_title(p)}: {s:g} / {m:g}", "", "| # | test | points | result |",
                  "|---|---|---|---|"]
        for r in results:
            if r.lab == p:
                mark = "pass" if r.status == "passed" else "FAIL"
                lines.append(f"| {r.number} | {r.name} | {r.score:g} / {r.max_score:g} | {mark} |")
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
                out += [f"         {line.strip()}" for line in lines if "nox -s replay --" in line]
    total = sum(r.score for r in results)
    max_total = sum(r.max_score for r in results)
    out.append("")
    out.append(f"{'TOTAL':<{width - 14}}{total:>6g} / {max_total:<5g}")
    for r in failed if full else []:
        out += ["", f"{r.number} {r.name}:"] + [f"  {line}" for line in r.output.rstrip().splitlines()]
    return out


def write_reports(results: list[TestResult], report_dir: Path, execution_time: float,
                  impl: str, warnings: list[str] = ()) -> tuple[Path, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    json_path = report_dir / "score.json"
    md_path = report_dir / "score.md"
    json_path.write_text(json.dumps(to_gradescope(results, execution_time, impl, warnings),
                                    indent=2) + "\n")
    md_path.write_text(to_markdown(results, impl, warnings))
    return json_path, md_path


def _title(package: str) -> str:
    lab = BY_NAME.get(package)
    return f"Lab {lab.number}: {lab.title}" if lab else package
