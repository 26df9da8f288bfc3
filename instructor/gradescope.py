"""``nox -s gradescope -- OUT.zip``: the Gradescope autograder bundle, and what it runs.

The bundle (upload it as the assignment's autograder, "zip file upload"):

* ``setup.sh``: run once by Gradescope (as root) to build the image: a Python >= 3.11 (from apt
  if the image has none) in ``/autograder/venv`` with the graders' requirements, and
  libseccomp (from apt if the image has none; the sandbox's seccomp filter needs it);
* ``run_autograder``: run for every submission: grades ``/autograder/submission`` with
  ``python -m instructor.gradescope run`` and writes ``/autograder/results/results.json``;
  if even that fails, it writes a zero with the reason (fail closed);
* ``labkit/``, ``graders/``, ``pyproject.toml``: the grading code (no reference solution);
  ``gradescope.json``: the labs to grade and the limits, fixed when the bundle is built.

The submission is graded like one row of ``grade_class``: student code in the sandbox, the
report written by the trusted grader. ``LABKIT_AUTOGRADER_ROOT`` replaces ``/autograder`` (for
testing the bundle in a temporary folder) and ``LABKIT_AUTOGRADER_PYTHON`` the interpreter.

    nox -s gradescope -- lab2-autograder.zip --labs lab2      # one assignment per lab
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from labkit.errors import GraderBug
from labkit.grading.labs import REPO
from labkit.sandbox import probe_layers
from .jobs import Limits, Result, fail_closed_report, grade_submission, grader_dirs
from .release import instructor_only, repository_files
from .submissions import InvalidSubmission, copy_folder, find_impl, unpack

SETUP = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image. Pick the Ubuntu
# 24.04 base image if you can (its Python 3.12 is used as is); on an older image, Python 3.11
# comes from apt.
set -euo pipefail
ROOT="${LABKIT_AUTOGRADER_ROOT:-/autograder}"
pick() {
    for py in python3.13 python3.12 python3.11 python3; do
        if command -v "$py" >/dev/null 2>&1 &&
           "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$py"; return 0
        fi
    done
    return 1
}
PY="$(pick || true)"
if [ -z "$PY" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3.11 python3.11-venv >/dev/null
    PY=python3.11
fi
# The sandboxed child's seccomp filter needs libseccomp (grading refuses to run without it).
if ! "$PY" -c 'import ctypes; ctypes.CDLL("libseccomp.so.2")' 2>/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libseccomp2 >/dev/null
fi
"$PY" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install --quiet --upgrade pip
"$ROOT/venv/bin/python" -m pip install --quiet -r "$ROOT/source/requirements.txt"
# The sandboxed child drops to "nobody": it must be able to read Python and the graders.
chmod -R a+rX "$ROOT/venv" "$ROOT/source"
"""

RUN = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission: it grades $ROOT/submission and writes
# $ROOT/results/results.json (ROOT is /autograder unless LABKIT_AUTOGRADER_ROOT says otherwise).
set -uo pipefail
ROOT="${LABKIT_AUTOGRADER_ROOT:-/autograder}"
PY="${LABKIT_AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
rm -f "$ROOT/results/results.json"
cd "$ROOT/source" && "$PY" -m instructor.gradescope run --root "$ROOT"
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then
    # Fail closed: no result means 0, with the reason.
    mkdir -p "$ROOT/results"
    printf '{"score": 0.0, "output": "The autograder failed before grading (exit %s). Please tell the course staff.", "tests": []}\n' "$status" > "$ROOT/results/results.json"
fi
exit 0
"""


def bundle_files(root: Path) -> list[Path]:
    """The grading code: labkit (with its sandbox), the instructor tools and the graders."""
    out = []
    for rel in repository_files(root):
        top = rel.parts[0]
        if top not in ("labkit", "graders", "instructor") and rel.as_posix() != "pyproject.toml":
            continue
        if instructor_only(root, rel) and not rel.as_posix().startswith("instructor/"):
            continue
        out.append(rel)
    return out


def requirements(root: Path) -> str:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    return "\n".join(project["dependencies"]) + "\n"


def build(out: Path, *, labs: list[str] | None, limits: Limits, root: Path = REPO) -> Path:
    if not grader_dirs(root, labs):
        raise SystemExit(f"gradescope: no grader suite for {labs or 'any lab'}")
    config = {"labs": labs, "time_limit": limits.time_s, "memory_mb": limits.memory_mb,
              "test_timeout": limits.test_timeout, "call_timeout": limits.call_timeout,
              "child_memory_mb": limits.child_memory_mb, "live": limits.live}
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in (("setup.sh", SETUP), ("run_autograder", RUN)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
        z.writestr("requirements.txt", requirements(root))
        z.writestr("gradescope.json", json.dumps(config, indent=2) + "\n")
        for rel in bundle_files(root):
            z.write(root / rel, rel.as_posix())
    return out


# ----- inside Gradescope -------------------------------------------------------------------------

def locate(submission: Path, work: Path) -> Path:
    """The folder to grade in ``submission``: a private copy of it (no link followed; a link
    anywhere makes it invalid), or of the lone zip inside, unpacked."""
    copy = copy_folder(submission, work / "submitted")
    try:
        return find_impl(copy)
    except InvalidSubmission:
        zips = [p for p in copy.iterdir() if p.suffix.lower() == ".zip"]
        if len(zips) != 1:
            raise
        return find_impl(unpack(zips[0], work / "unzipped"))


def run(root: Path, source: Path) -> dict:
    """Grade ``root/submission``; write and return ``root/results/results.json``."""
    config = json.loads((source / "gradescope.json").read_text())
    limits = Limits(time_s=config["time_limit"], memory_mb=config["memory_mb"],
                    test_timeout=config["test_timeout"], call_timeout=config["call_timeout"],
                    child_memory_mb=config["child_memory_mb"], live=config["live"])
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="labkit-gradescope-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        try:
            probe_layers()       # refuses if the child would stay root or lack a layer
            impl = locate(root / "submission", work)
        except GraderBug as exc:
            result = Result("crashed", f"the autograder is not set up right: {exc}")
            report = fail_closed_report(result, "submission")
        except (InvalidSubmission, OSError) as exc:
            result = Result("invalid", str(exc))
            report = fail_closed_report(result, "submission")
        else:
            _, report = grade_submission(impl, work / "report", limits, root=source,
                                         labs=config["labs"])
    (results_dir / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s gradescope --",
                                     description="Build the Gradescope autograder bundle.")
    sub = parser.add_subparsers(dest="command")
    b = sub.add_parser("build", help="write the bundle (the default command)")
    b.add_argument("out", type=Path, help="the zip to write, e.g. autograder.zip")
    b.add_argument("--labs", default="", help="only these labs, e.g. lab2 (default: all)")
    b.add_argument("--time-limit", type=float, default=Limits.time_s)
    b.add_argument("--test-timeout", type=float, default=Limits.test_timeout)
    b.add_argument("--memory-mb", type=int, default=Limits.memory_mb)
    r = sub.add_parser("run", help="grade the submission (what run_autograder calls)")
    r.add_argument("--root", type=Path,
                   default=Path(os.environ.get("LABKIT_AUTOGRADER_ROOT", "/autograder")))
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in ("build", "run", "-h", "--help"):
        argv.insert(0, "build")
    args = parser.parse_args(argv)
    if args.command == "run":
        report = run(args.root, Path.cwd())
        print(f"score {report['score']:g} / {report.get('max_score', 0):g}")
        return 0
    if args.command != "build":
        parser.print_help()
        return 2
    labs = [x.strip() for x in args.labs.split(",") if x.strip()] or None
    limits = Limits(time_s=args.time_limit, test_timeout=args.test_timeout,
                    memory_mb=args.memory_mb)
    out = build(args.out, labs=labs, limits=limits)
    with zipfile.ZipFile(out) as z:
        count = len(z.namelist())
    print(f"gradescope: {out} ({count} files; labs: {', '.join(labs) if labs else 'all'}). "
          f"Upload it as the autograder; test it with run_autograder and "
          f"LABKIT_AUTOGRADER_ROOT (see instructor/gradescope.py).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

