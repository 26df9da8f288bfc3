"""GitHub Classroom autograding (instructor.classroom): the workflow ``release`` writes is a
valid GitHub Actions workflow, and its grading steps, run with bash as a runner would, report
the points that ``nox -s grade`` gives the same code (the reference, and a buggy variant that
loses some).

The local run emulates what GitHub does with a step: each ``run:`` block goes to ``bash
--noprofile --norc -eo pipefail`` in the repository, with ``$GITHUB_OUTPUT``,
``$GITHUB_STEP_SUMMARY`` and ``$GITHUB_PATH`` files, and the reporter's sum is computed the way
``classroom-resources/autograding-grading-reporter`` does it (src/notify-classroom.js: the
tests' ``score`` added up over the runners, their ``max_score`` too).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml

from instructor import classroom, release, sample_class

REPO = Path(__file__).resolve().parents[1]
LABS = [classroom.LabStep("lab0", "Lab 0: Resilience patterns", 50.0),
        classroom.LabStep("lab1", "Lab 1: it's \"CAP\" (quotes: $HOME `x`)", 120.0)]
BUGGY = REPO / "tests" / "buggy" / "lab0_resilience" / "retry_no_jitter"


def points_module() -> types.ModuleType:
    module = types.ModuleType("classroom_points")
    exec(compile(classroom.POINTS, "points.py", "exec"), module.__dict__)  # noqa: S102
    return module


def load_workflow(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    if True in data:                    # YAML 1.1 reads a bare `on` as true
        data["on"] = data.pop(True)
    return data


def check_jsonschema(path: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).with_name(
        "check-jsonschema"))
    return subprocess.run([exe, "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True)


# ----- the workflow file ---------------------------------------------------------------------

@pytest.mark.slow
def test_workflow_is_valid_for_github_actions(tmp_path):
    classroom.write(tmp_path, LABS)
    path = tmp_path / classroom.WORKFLOW
    proc = check_jsonschema(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # The check can fail: a step with neither `run` nor `uses`, an unknown key.
    broken = tmp_path / "broken.yml"
    broken.write_text(path.read_text().replace("        uses: actions/checkout@v4\n",
                                               "        usess: actions/checkout@v4\n"))
    proc = check_jsonschema(broken)
    assert proc.returncode != 0 and "usess" in proc.stdout + proc.stderr


def test_workflow_has_one_step_per_lab_and_feeds_the_reporter(tmp_path):
    classroom.write(tmp_path, LABS)
    wf = load_workflow(tmp_path / classroom.WORKFLOW)
    assert "push" in wf["on"]
    steps = wf["jobs"]["grade"]["steps"]
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == classroom.PYTHON        # pinned
    install = next(s for s in steps if "pip install nox" in s.get("run", ""))
    assert classroom.INSTALL in install["run"]
    readme = (REPO / "README.md").read_text()
    assert "python3 -m venv ~/.venvs/nox && ~/.venvs/nox/bin/python -m pip install nox" in readme
    by_id = {s["id"]: s for s in steps if "id" in s}
    assert sorted(by_id) == ["lab0", "lab1"]
    for lab in LABS:
        run = by_id[lab.short]["run"]
        assert f"nox -s grade -- {lab.short} --sandbox --report-dir reports/{lab.short}" in run
        assert "${{" not in run                   # no expression inside a shell script
    reporter = steps[-1]
    assert reporter["uses"] == classroom.REPORTER
    assert reporter["with"]["runners"] == "lab0,lab1"
    # A lab whose step did not finish still counts its points in the maximum (fallback).
    for lab in LABS:
        value = reporter["env"][f"{lab.short.upper()}_RESULTS"]
        fallback = json.loads(base64.b64decode(re.search(r"\|\| '([^']+)'", value).group(1)))
        assert f"steps.{lab.short}.outputs.result" in value
        assert fallback["max_score"] == lab.max_score and fallback["status"] == "error"
        assert sum(t["score"] for t in fallback["tests"]) == 0
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "reports/" and upload["if"] == "always()"


def test_points_script_reports_every_test_with_its_points(tmp_path, monkeypatch, capsys):
    points = points_module()
    report = tmp_path / "reports" / "lab1"
    report.mkdir(parents=True)
    tests = [{"name": "Writes converge", "number": "1.1", "score": 10.0, "max_score": 10.0,
              "status": "passed", "output": ""},
             {"name": "Strong writes refuse", "number": "1.2", "score": 0.0, "max_score": 15.0,
              "status": "failed", "output": "Majority lost: n1 acked\nfailure id: lab1-abc123\n"
                                            "  replay: nox -s replay -- lab1-abc123"},
             {"name": "Half", "number": "1.3", "score": 2.5, "max_score": 5.0,
              "status": "failed", "output": "partly"}]
    (report / "score.json").write_text(json.dumps({"score": 12.5, "max_score": 30.0,
                                                   "tests": tests}))
    out = tmp_path / "output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    points.main(["result", "lab1", str(report), "--title", "Lab 1: CAP", "--max-score", "99"])
    line, = out.read_text().splitlines()
    assert line.startswith("result=")
    res = json.loads(base64.b64decode(line[len("result="):]))
    assert res["status"] == "fail" and res["max_score"] == 30.0      # the report's, not 99
    assert [t["score"] for t in res["tests"]] == [10.0, 0.0, 2.5]     # partial credit kept
    assert [t["status"] for t in res["tests"]] == ["pass", "fail", "fail"]
    # No report at all: an error worth 0 of the points given on the command line.
    missing = tmp_path / "reports" / "lab2"
    points.main(["result", "lab2", str(missing), "--title", "Lab 2: Raft", "--max-score", "280"])
    res2 = json.loads(base64.b64decode(out.read_text().splitlines()[1][len("result="):]))
    assert res2["status"] == "error" and res2["max_score"] == 280.0
    assert sum(t["score"] for t in res2["tests"]) == 0 and "no usable report" in \
        res2["tests"][0]["message"]
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    points.main(["summary", str(tmp_path / "reports")])
    md = summary.read_text()
    assert "| Lab 1: CAP | 12.5 / 30 | 2 |" in md
    assert "| Lab 2: Raft | 0 / 280 | 1 |" in md
    assert "**12.5 / 310**" in md
    assert "Failure id `lab1-abc123`" in md and "nox -s replay -- lab1-abc123" in md
    assert "Majority lost: n1 acked" in md and "Writes converge" not in md


# ----- the steps, run locally ------------------------------------------------------------------

def run_steps(repo: Path, home: Path, only: set[str]) -> tuple[dict, str, list[str]]:
    """Run the workflow's ``run:`` steps in ``repo`` like a runner: returns each step id's
    outputs, the job summary and the output of every step. ``only``: the lab step ids to run
    (other labs' steps are skipped); every step without an id runs."""
    wf = load_workflow(repo / classroom.WORKFLOW)
    steps = wf["jobs"]["grade"]["steps"]
    runner = home / "runner"
    runner.mkdir(parents=True, exist_ok=True)
    summary, path_file = runner / "summary.md", runner / "path"
    summary.write_text("")
    path_file.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NOX_"))}
    env.update(wf["jobs"]["grade"].get("env", {}))
    env.update({"HOME": str(home), "GITHUB_WORKSPACE": str(repo), "CI": "true",
                "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_PATH": str(path_file)})
    outputs, logs = {}, []
    for i, step in enumerate(steps):
        if "run" not in step or ("id" in step and step["id"] not in only):
            continue
        out_file = runner / f"output-{i}"
        out_file.write_text("")
        extra = [p for p in path_file.read_text().splitlines() if p]
        step_env = dict(env, GITHUB_OUTPUT=str(out_file),
                        PATH=os.pathsep.join([*reversed(extra), env["PATH"]]))
        script = runner / f"step-{i}.sh"
        script.write_text(step["run"])
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                              cwd=repo, env=step_env, capture_output=True, text=True)
        logs.append(f"--- {step['name']} (exit {proc.returncode})\n{proc.stdout}{proc.stderr}")
        assert proc.returncode == 0, logs[-1][-3000:]
        if "id" in step:
            outputs[step["id"]] = dict(line.split("=", 1)
                                       for line in out_file.read_text().splitlines() if line)
    return outputs, summary.read_text(), logs


def reporter_points(outputs: dict, runners: list[str]) -> tuple[float, float, list]:
    """What the Classroom reporter announces: (totalPoints, maxPoints), and the tests."""
    total = top = 0.0
    tests = []
    for runner in runners:
        results = json.loads(base64.b64decode(outputs[runner]["result"]))
        if not results.get("max_score"):
            continue
        top += results["max_score"]
        total += sum(t["score"] for t in results["tests"])
        tests += results["tests"]
    return total, top, tests


def grade_points(repo: Path, home: Path, reports: Path) -> dict:
    """``nox -s grade -- lab0`` in the release, as a student runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NOX_"))}
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join([str(home / ".venvs" / "nox" / "bin"), env["PATH"]])
    proc = subprocess.run(["nox", "-s", "grade", "--", "lab0", "--report-dir", str(reports)],
                          cwd=repo, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return json.loads((reports / "score.json").read_text())


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A fresh student release of this repository (``release`` with its checks)."""
    dest = tmp_path_factory.mktemp("classroom") / "student"
    assert release.release(dest, how="python") == 0
    return dest


@pytest.mark.slow
def test_released_workflow_steps_report_the_grade_points(released, tmp_path):
    """Lab 0 (the fastest): the reference, then a buggy variant pushed over the starter."""
    assert (released / classroom.WORKFLOW).is_file() and (released / classroom.SCRIPT).is_file()
    assert not (released / "docs" / "instructors.md").exists()      # instructors' page stays out
    assert "docs/instructors.md" not in (released / "README.md").read_text()
    proc = check_jsonschema(released / classroom.WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    repo, home = tmp_path / "repo", tmp_path / "home"
    shutil.copytree(released, repo)
    starter = repo / "starter" / "lab0_resilience"
    seen = {}
    for name, source in (("reference", None), ("buggy", BUGGY)):
        shutil.rmtree(starter)
        shutil.rmtree(repo / "reports", ignore_errors=True)
        if source is None:
            shutil.copytree(REPO / "reference" / "lab0_resilience", starter)
        else:                    # self-contained: the reference it subclasses vendored in
            sub = sample_class.vendored_variant(source, tmp_path / f"sub-{name}")
            for entry in sub.iterdir():
                target = repo / "starter" / entry.name
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(entry, target)
        outputs, summary, logs = run_steps(repo, home, {"lab0"})
        total, top, tests = reporter_points(outputs, ["lab0"])
        graded = grade_points(repo, home, tmp_path / f"grade-{name}")
        assert (total, top) == (graded["score"], graded["max_score"]), "\n".join(logs)[-4000:]
        assert [t["score"] for t in tests] == [t["score"] for t in graded["tests"]]
        assert (repo / "reports" / "lab0" / "score.md").is_file()    # the artifact's content
        assert "| Lab 0: Resilience patterns |" in summary
        seen[name] = (total, top, summary)
    assert seen["reference"][:2] == (50.0, 50.0)
    total, top, summary = seen["buggy"]
    assert 0 < total < top == 50.0                   # partial credit, not all or nothing
    assert "## Failures" in summary and "full jitter" in summary
