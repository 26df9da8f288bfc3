"""The instructor workflow end to end, from a fresh copy of the repository:

    python -m instructor.acceptance WORKDIR [--variants one|all] [--jobs N] [--nox]

1. copies the repository as a fresh clone would see it (tracked files, and untracked files git
   does not ignore) into WORKDIR/clone, and works only there from then on;
2. ``release``: writes the student repository and runs its checks;
3. ``sample_class``: a class of 20+ submissions (reference, starter, a zip, a syntax error, an
   infinite loop, invalid ones, every hostile submission, the buggy variants);
4. ``grade_class``: grades it, then checks the gradebook against what each should get: one row
   per submission, the expected status, full marks for the reference, 0 for the starter and
   every hostile one, less than full on its lab for every buggy variant;
5. ``gradescope``: builds the bundle, lays out a temporary ``/autograder`` and grades the
   reference and a hostile submission with ``run_autograder``.

Exits non-zero at the first step that fails; prints the time of each step.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from labkit.grading.labs import LABS, REPO
from .release import repository_files


def step(name: str, cmd: list[str], cwd: Path, timings: dict, **kw) -> subprocess.CompletedProcess:
    started = time.monotonic()
    print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.run(cmd, cwd=cwd, text=True, capture_output=True,
                          env={**os.environ, "PYTHONHASHSEED": "0"}, **kw)
    timings[name] = round(time.monotonic() - started, 1)
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-6:]
    print("   " + "\n   ".join(tail), flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"acceptance: {name} failed (exit {proc.returncode})")
    return proc


def check_gradebook(book: Path, expected: dict) -> list[str]:
    with open(book, newline="") as f:
        rows = {row["submission"]: row for row in csv.DictReader(f)}
    problems = []
    if set(rows) != set(expected):
        problems.append(f"rows {sorted(set(rows) ^ set(expected))} missing or extra")
    short = {lab.package: lab.short for lab in LABS}
    for name, want in expected.items():
        row = rows.get(name)
        if row is None:
            continue
        if row["status"] != want["status"]:
            problems.append(f"{name}: status {row['status']} ({row['reason'][:200]}), "
                            f"expected {want['status']}")
            continue
        total, max_total = float(row["total"]), float(row["max_total"])
        if want["score"] == "full" and total != max_total:
            problems.append(f"{name}: {total:g} of {max_total:g}, expected full marks")
        elif want["score"] == 0 and total != 0:
            problems.append(f"{name}: {total:g}, expected 0")
        elif want["score"] == "less than full":
            lab = short[want["lab"]]
            reference = float(rows["reference"][lab]) if "reference" in rows else None
            if reference is not None and float(row[lab]) >= reference:
                problems.append(f"{name}: {row[lab]} on {lab}, the reference's score: the "
                                f"bug was not caught")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.acceptance",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--variants", choices=("one", "all"), default="one")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--time-limit", type=float, default=600)
    parser.add_argument("--test-timeout", type=float, default=120)
    parser.add_argument("--call-timeout", type=float, default=5,
                        help="how fast a looping handler fails its test (the infinite-loop "
                             "sample loops in every handler)")
    parser.add_argument("--check-with", choices=("nox", "python"), default="python",
                        help="how the release grades its starters (nox needs pip)")
    args = parser.parse_args(argv)
    work = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    clone = work / "clone"
    shutil.rmtree(clone, ignore_errors=True)
    for rel in repository_files(REPO):
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, clone / rel)
    py = sys.executable
    timings: dict[str, float] = {}
    for d in ("student-repo", "class", "graded", "autograder"):
        shutil.rmtree(work / d, ignore_errors=True)

    step("release", [py, "-m", "instructor.release", str(work / "student-repo"),
                     "--check-with", args.check_with], clone, timings)
    step("sample class", [py, "-m", "instructor.sample_class", str(work / "class"),
                          "--variants", args.variants], clone, timings)
    expected = json.loads((work / "class" / "expected.json").read_text())
    step("grade_class", [py, "-m", "instructor.grade_class", str(work / "class"),
                         "--out", str(work / "graded"), "--jobs", str(args.jobs),
                         "--time-limit", str(args.time_limit),
                         "--test-timeout", str(args.test_timeout),
                         "--call-timeout", str(args.call_timeout)], clone, timings)
    problems = check_gradebook(work / "graded" / "gradebook.csv", expected)
    print(f"   gradebook: {len(expected)} submissions checked, {len(problems)} problems")
    for p in problems:
        print(f"   - {p}")

    bundle = work / "autograder.zip"
    step("gradescope bundle", [py, "-m", "instructor.gradescope", str(bundle)], clone,
         timings)
    root = work / "autograder"
    with zipfile.ZipFile(bundle) as z:
        z.extractall(root / "source")
    env = {**os.environ, "LABKIT_AUTOGRADER_ROOT": str(root),
           "LABKIT_AUTOGRADER_PYTHON": py, "PYTHONHASHSEED": "0"}
    for name, want in (("reference", "full"), ("hostile-os_exit", 0)):
        shutil.rmtree(root / "submission", ignore_errors=True)
        shutil.copytree(work / "class" / name, root / "submission")
        started = time.monotonic()
        subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                       capture_output=True, text=True)
        timings[f"gradescope {name}"] = round(time.monotonic() - started, 1)
        results = json.loads((root / "results" / "results.json").read_text())
        got = results["score"]
        ok = got == results.get("max_score") if want == "full" else got == want
        print(f"== gradescope run_autograder on {name}: {got:g} / "
              f"{results.get('max_score', 0):g} ({'ok' if ok else 'WRONG'})")
        if not ok:
            problems.append(f"gradescope {name}: {got}, expected {want}")
    print("timings (s): " + ", ".join(f"{k} {v:g}" for k, v in timings.items()))
    if problems:
        print("acceptance: FAILED")
        return 1
    print("acceptance: ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
