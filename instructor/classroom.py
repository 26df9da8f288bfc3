"""GitHub Classroom autograding: the workflow ``release`` writes into the student repository.

GitHub Classroom shows, for every student repository, the points that the last run of the
``classroom-resources/autograding-grading-reporter`` action announced. That reporter reads, for
each id in its ``runners`` input, an environment variable ``<ID>_RESULTS``: base64 of a JSON
object ``{"version": 1, "status": "pass"|"fail"|"error", "max_score": M, "tests": [...]}``; the
points are the sum of every test's ``score`` and the maximum the sum of the runners'
``max_score`` (a runner with no ``max_score`` is left out). The stock
``autograding-command-grader`` makes one such runner per command, all or nothing; to show
partial credit we write the runner results ourselves, one step per lab, each carrying every test
of that lab with the points it earned, so one step per lab is enough.

What ``write(dest, labs)`` puts into the release:

* ``.github/workflows/classroom.yml``: on every push, check out, set up the pinned Python,
  install nox with the README's command, then one step per lab: ``nox -s grade -- labN
  --sandbox --report-dir reports/labN`` (the same sandboxed grader ``grade_class`` uses) and
  ``points.py result`` (the runner result, into ``$GITHUB_OUTPUT``); then the job summary (the
  score table, each failure's message and id), the reports and failure pages as the
  ``score-report`` artifact, and the Classroom reporter. A lab step that did not finish (timed
  out, cancelled) still counts: the reporter gets a precomputed "not graded" result worth 0 of
  that lab's points instead of nothing.
* ``.github/classroom/points.py``: the two commands the steps run (standard library only).

The points a student sees in the Classroom are the points ``nox -s grade`` gives the same code
(``tests/test_classroom.py`` runs the steps with bash and compares). Grading happens in the
student's own repository, so a student who edits the workflow can fake that number: take the
Classroom score as feedback, and the grade from ``grade_class`` (docs/instructors.md).
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

WORKFLOW = Path(".github/workflows/classroom.yml")
SCRIPT = Path(".github/classroom/points.py")
PYTHON = "3.12"                       # pinned: the graders are tested on 3.11+; 3.12 is Ubuntu 24.04's
RUNNER_IMAGE = "ubuntu-24.04"
STEP_MINUTES = 30                     # one lab's step
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
INSTALL = ('python3 -m venv ~/.venvs/nox && ~/.venvs/nox/bin/python -m pip install nox')


@dataclass(frozen=True)
class LabStep:
    short: str          # lab0: the step id and the reporter's runner id
    title: str          # Lab 0: Resilience patterns
    max_score: float    # the lab's points (from the starters' grading at release time)


def not_graded(lab: LabStep, why: str) -> dict:
    """The runner result of a lab that has no report: 0 of its points, with the reason."""
    return {"version": 1, "status": "error", "max_score": lab.max_score,
            "tests": [{"name": f"{lab.title}: not graded", "status": "error", "score": 0,
                       "message": why, "test_code": "", "filename": "", "line_no": 0,
                       "execution_time": 0}]}


def encoded(result: dict) -> str:
    return base64.b64encode(json.dumps(result, separators=(",", ":")).encode()).decode()


def _q(text: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of it)."""
    return json.dumps(text, ensure_ascii=False)


def workflow(labs: list[LabStep], python: str = PYTHON) -> str:
    """The text of ``.github/workflows/classroom.yml`` for these labs."""
    out = [
        "# GitHub Classroom autograding, written by the course's `nox -s release`: regenerate it",
        "# rather than edit it. Every push is graded by the same sandboxed grader as `nox -s grade",
        "# -- --sandbox`, one step per lab; each step hands every test's points to the Classroom",
        "# reporter, which adds them up, so the dashboard shows partial credit.",
        "name: Autograding",
        '"on":',
        "  push:",
        "  workflow_dispatch:",
        "  repository_dispatch:",
        "permissions:",
        "  checks: write",
        "  actions: read",
        "  contents: read",
        "jobs:",
        "  grade:",
        "    name: Grade the labs",
        f"    runs-on: {RUNNER_IMAGE}",
        "    if: github.actor != 'github-classroom[bot]'",
        f"    timeout-minutes: {STEP_MINUTES * len(labs) + 20}",
        "    env:",
        '      PYTHONHASHSEED: "0"',
        "    steps:",
        "      - name: Check out the code",
        "        uses: actions/checkout@v4",
        f"      - name: Set up Python {python}",
        "        uses: actions/setup-python@v5",
        "        with:",
        f"          python-version: {_q(python)}",
        "      - name: Install nox (the README's quick start)",
        "        run: |",
        f"          {INSTALL}",
        '          echo "$HOME/.venvs/nox/bin" >> "$GITHUB_PATH"',
    ]
    for lab in labs:
        report = f"reports/{lab.short}"
        out += [
            f"      - name: {_q(f'{lab.title} ({lab.max_score:g} points)')}",
            f"        id: {lab.short}",
            "        if: always()",
            f"        timeout-minutes: {STEP_MINUTES}",
            "        run: |",
            f"          nox -s grade -- {lab.short} --sandbox --report-dir {report}"
            f" || echo \"nox exited with $?\"",
            f"          python3 {SCRIPT} result {lab.short} {report}"
            f" --title {shlex.quote(lab.title)} --max-score {lab.max_score:g}",
        ]
    out += [
        "      - name: Job summary (score table, failures)",
        "        if: always()",
        f"        run: python3 {SCRIPT} summary reports",
        "      - name: Upload the score report and failure pages",
        "        if: always()",
        "        uses: actions/upload-artifact@v4",
        "        with:",
        "          name: score-report",
        "          path: reports/",
        "          if-no-files-found: warn",
        "      - name: Report the points to GitHub Classroom",
        "        if: always()",
        f"        uses: {REPORTER}",
        "        env:",
    ]
    for lab in labs:
        fallback = encoded(not_graded(lab, "the grading step did not finish (timed out or "
                                           "cancelled); see its log"))
        out.append(f"          {lab.short.upper()}_RESULTS: "
                   f"\"${{{{ steps.{lab.short}.outputs.result || '{fallback}' }}}}\"")
    out += ["        with:", f"          runners: {','.join(lab.short for lab in labs)}"]
    return "\n".join(out) + "\n"


POINTS = r'''"""GitHub Classroom autograding of this repository (written by the course's release tool;
the workflow .github/workflows/classroom.yml runs it, standard library only).

    python3 .github/classroom/points.py result LAB REPORT_DIR --title TITLE --max-score M
        LAB's points for the Classroom reporter: every test of REPORT_DIR/score.json (the
        report `nox -s grade -- LAB --report-dir REPORT_DIR` wrote) with the points it earned,
        as `result=<base64 JSON>` in $GITHUB_OUTPUT; the reporter adds the tests' scores up.
        Also REPORT_DIR/classroom.json (the same result, readable). No report: 0 of M points.
    python3 .github/classroom/points.py summary REPORTS
        the job summary, in Markdown, appended to $GITHUB_STEP_SUMMARY: the score table of every
        lab, then each failed test's message and failure id.
"""

import argparse
import base64
import json
import os
import re
import sys
from pathlib import Path

MESSAGE_CHARS = 2000      # of one test's message in the runner result (step outputs are small)
SUMMARY_CHARS = 6000      # of one failure's message in the job summary
SUMMARY_LIMIT = 900_000   # GitHub refuses a step summary over 1 MiB
FAILURE_ID = re.compile(r"failure id: (\S+)")


def runner_result(report_dir, title, max_score):
    path = Path(report_dir) / "score.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        tests = report["tests"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        why = (f"the grader wrote no usable report ({type(exc).__name__}: {exc}); "
               "see the step's log")
        return {"version": 1, "status": "error", "max_score": max_score, "title": title,
                "tests": [{"name": f"{title}: not graded", "status": "error", "score": 0,
                           "message": why, "test_code": "", "filename": "", "line_no": 0,
                           "execution_time": 0}]}
    out = []
    for t in tests:
        passed = t.get("status") == "passed"
        out.append({"name": f"{t.get('number', '')} {t.get('name', '')}".strip(),
                    "status": "pass" if passed else "fail",
                    "score": float(t.get("score", 0)), "max_score": float(t.get("max_score", 0)),
                    "message": (t.get("output") or "")[:MESSAGE_CHARS],
                    "test_code": "", "filename": "", "line_no": 0, "execution_time": 0})
    status = "pass" if all(t["status"] == "pass" for t in out) else "fail"
    return {"version": 1, "status": status, "max_score": float(report.get("max_score", 0)),
            "title": title, "tests": out}


def result(args):
    res = runner_result(args.report_dir, args.title, args.max_score)
    Path(args.report_dir).mkdir(parents=True, exist_ok=True)
    (Path(args.report_dir) / "classroom.json").write_text(json.dumps(res, indent=1) + "\n",
                                                          encoding="utf-8")
    line = "result=" + base64.b64encode(json.dumps(res).encode()).decode()
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    else:
        print(line)
    points = sum(t["score"] for t in res["tests"])
    print(f"{args.lab}: {points:g} / {res['max_score']:g} points ({res['status']})")
    return 0


def summary(args):
    rows, failures = [], []
    total = top = 0.0
    for path in sorted(Path(args.reports).glob("*/classroom.json")):
        res = json.loads(path.read_text(encoding="utf-8"))
        points = sum(t["score"] for t in res["tests"])
        total += points
        top += res["max_score"]
        failed = [t for t in res["tests"] if t["status"] != "pass"]
        rows.append(f"| {res.get('title', path.parent.name)} | {points:g} / "
                    f"{res['max_score']:g} | {len(failed)} |")
        score_md = path.parent / "score.json"
        full = {}
        try:
            for t in json.loads(score_md.read_text(encoding="utf-8"))["tests"]:
                full[f"{t.get('number', '')} {t.get('name', '')}".strip()] = t.get("output", "")
        except (OSError, ValueError, KeyError, TypeError):
            pass
        for t in failed:
            text = full.get(t["name"]) or t.get("message", "")
            found = FAILURE_ID.search(text)
            fid = found.group(1) if found else ""
            head = f"### {res.get('title', '')}: {t['name']} ({t['score']:g} / " \
                   f"{t.get('max_score', 0):g})"
            lines = [head, ""]
            if fid:
                lines += [f"Failure id `{fid}`: run it again with `nox -s replay -- {fid}`; "
                          f"its trace viewer is `failures/{fid}.html` in the `score-report` "
                          "artifact.", ""]
            body = text[:SUMMARY_CHARS] + (" [...]" if len(text) > SUMMARY_CHARS else "")
            lines += ["```text", body.replace("```", "` ` `").rstrip(), "```", ""]
            failures.append("\n".join(lines))
    md = ["## Autograding", "", "| lab | points | failed tests |", "|---|---|---|", *rows,
          f"| **total** | **{total:g} / {top:g}** | |", ""]
    if failures:
        md += ["## Failures", "", "The full report is `score.md` of each lab in the "
               "`score-report` artifact.", ""]
    text = "\n".join(md)
    for block in failures:
        if len(text) + len(block) > SUMMARY_LIMIT:
            text += "\n(more failures: see the `score-report` artifact)\n"
            break
        text += "\n" + block
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="points.py")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("result")
    r.add_argument("lab")
    r.add_argument("report_dir")
    r.add_argument("--title", default="")
    r.add_argument("--max-score", type=float, default=0.0)
    s = sub.add_parser("summary")
    s.add_argument("reports")
    args = parser.parse_args(argv)
    return result(args) if args.command == "result" else summary(args)


if __name__ == "__main__":
    sys.exit(main())
'''


def write(dest: Path, labs: list[LabStep], python: str = PYTHON) -> list[Path]:
    """Write the workflow and its script into the release ``dest``; returns their paths."""
    paths = []
    for rel, text in ((WORKFLOW, workflow(labs, python)), (SCRIPT, POINTS)):
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def check(dest: Path, labs: list[LabStep]) -> list[str]:
    """What is wrong with the workflow in ``dest``: every lab has its step, the reporter lists
    every lab's runner, the Python version is pinned."""
    path = dest / WORKFLOW
    if not path.is_file():
        return [f"{WORKFLOW} is missing"]
    text = path.read_text(encoding="utf-8")
    problems = []
    for lab in labs:
        if f"        id: {lab.short}\n" not in text:
            problems.append(f"{WORKFLOW} has no grading step for {lab.short}")
        if f"{lab.short.upper()}_RESULTS:" not in text:
            problems.append(f"{WORKFLOW}: the reporter does not get {lab.short}'s result")
    if "python-version:" not in text:
        problems.append(f"{WORKFLOW} does not pin the Python version")
    return problems
