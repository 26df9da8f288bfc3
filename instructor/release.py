"""``nox -s release -- DIR``: write the student repository, then prove it works and leaks nothing.

What goes in: every file of the repository (tracked, or untracked and not ignored by git)
except ``reference/``, the instructor tooling (``instructor/``), the buggy and hostile
variants, and the tests that need them (a test that uses ``reference``, the buggy variants,
``graderun`` or ``instructor.testing``). The exported ``noxfile.py`` loses its instructor-only
sessions (``reference``, ``release``, ``grade_class``, ``gradescope``) and the README its
instructor sections.

The release also gets its GitHub Classroom workflow (``classroom``):
``.github/workflows/classroom.yml`` grades every push with the sandboxed grader, one step per
lab, and reports each test's points to the Classroom (partial credit), with a job summary and the
reports as an artifact; the labs' points in it come from check 1 below.

Then two checks, and a non-zero exit if either fails:

1. the export works: its ``nox -s grade`` (or, with ``--check-with python``, the same pytest
   command with this interpreter) runs and scores the untouched starters 0, cleanly: every test
   fails with "not implemented yet", none with an internal error;
2. nothing leaks: no non-trivial function body of ``reference/`` appears anywhere in DIR,
   compared as normalised ASTs (``leaks``), not as text.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from labkit.grading.labs import LABS, REPO
from . import classroom
from .leaks import find_leaks

INSTRUCTOR_SESSIONS = ("reference", "release", "grade_class", "gradescope", "mutants")
EXCLUDED_DIRS = ("reference", "instructor", "tests/buggy", "tests/hostile",
                 "docs/instructors.md")
ALWAYS_SKIPPED = {".git", ".nox", ".hypothesis", "__pycache__", "reports", ".ci-venv",
                  ".pytest_cache", ".venv", "venv"}
INSTRUCTOR_SECTIONS = re.compile(r"^##\s+(for\s+)?instructors", re.I)


# ----- what goes in ------------------------------------------------------------------------------

def repository_files(root: Path) -> list[Path]:
    """Tracked files and untracked files git does not ignore (or every file, without git)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=root, capture_output=True, check=True)
        names = [n for n in out.stdout.decode().split("\0") if n]
        files = [Path(n) for n in names if (root / n).is_file()]
    except (OSError, subprocess.CalledProcessError):
        files = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    return sorted(f for f in files if not ALWAYS_SKIPPED.intersection(f.parts)
                  and not f.name.endswith(".pyc"))


def instructor_only(root: Path, rel: Path) -> str:
    """Why ``rel`` stays out of the student release, or "" if it goes in."""
    text = rel.as_posix()
    for folder in EXCLUDED_DIRS:
        if text == folder or text.startswith(folder + "/"):
            return f"under {folder}/"
    if rel.parts[0] == "tests" and rel.suffix == ".py" and rel.name != "conftest.py" \
            and not rel.parts[1:2] == ("fakelab",):
        reason = _needs_instructor_files(root / rel)
        if reason:
            return reason
    return ""


def _needs_instructor_files(path: Path) -> str:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError):
        return ""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) \
                else [node.module or ""]
            for name in names:
                if name.split(".")[0] == "graderun" or name.startswith(
                        ("instructor.testing", "instructor")):
                    return f"imports {name}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
            if value == "reference" or "reference/" in value or value in ("buggy", "hostile"):
                return f"uses {value!r}"
        elif isinstance(node, ast.Name) and node.id in ("reference_lab", "BUGGY"):
            return f"uses {node.id}"
    return ""


# ----- rewriting the exported noxfile and README ---------------------------------------------------

def student_noxfile(text: str) -> str:
    """The noxfile without the instructor-only sessions (removed by AST, with decorators)."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    cut: list[tuple[int, int]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in INSTRUCTOR_SESSIONS and any(
                "session" in ast.unparse(d) for d in node.decorator_list):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            above = start
            while above > 0 and not lines[above - 1].strip():
                above -= 1
            if above > 0 and lines[above - 1].lstrip().startswith("# -----"):
                start = above - 1                        # its section heading goes too
            cut.append((start, node.end_lineno))
    for start, end in sorted(cut, reverse=True):
        while end < len(lines) and not lines[end].strip():
            end += 1                                     # and the blank lines after it
        del lines[start:end]
    out = "".join(lines).rstrip() + "\n"
    doc = ast.get_docstring(tree, clean=False)
    if doc:
        kept = [line for line in doc.splitlines()
                if not any(f"nox -s {s}" in line for s in INSTRUCTOR_SESSIONS)]
        new_doc = "\n".join(kept)
        new_doc = re.sub(r"\breference \(instructors\),\s*", "", new_doc)
        new_doc = new_doc.rstrip() + ("\n\nThe instructor-only sessions (" +
                                      ", ".join(INSTRUCTOR_SESSIONS) +
                                      ") are not part of\nthe student release.\n")
        out = out.replace(doc, new_doc, 1)
    ast.parse(out)                                       # still valid Python
    return out


def student_readme(text: str) -> str:
    """The README without its instructor sections and the row about reference/."""
    out, skipping = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            skipping = bool(INSTRUCTOR_SECTIONS.match(line))
        if skipping:
            continue
        if line.startswith("|") and "`reference/`" in line:
            continue
        if line.startswith("|") and "`reference`" in line:     # a list of sessions
            line = re.sub(r",?\s*`reference`(?=[,\s])", "", line)
            line = re.sub(r",?\s*and the instructors' ones", "", line)
        out.append(line)
    return "\n".join(out).rstrip() + "\n"


def export(root: Path, dest: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Copy the student files of ``root`` into ``dest``; returns (copied, left out + why)."""
    copied, left = [], []
    inside = dest.resolve()
    for rel in repository_files(root):
        src = root / rel
        if inside in src.resolve().parents:
            continue                                     # DIR inside the repository
        why = instructor_only(root, rel)
        if why:
            left.append((rel, why))
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
        copied.append(rel)
    nox = dest / "noxfile.py"
    if nox.is_file():
        nox.write_text(student_noxfile(nox.read_text()))
    readme = dest / "README.md"
    if readme.is_file():
        readme.write_text(student_readme(readme.read_text()))
    return copied, left


# ----- the checks --------------------------------------------------------------------------------

def check_sessions(dest: Path) -> list[str]:
    problems = []
    tree = ast.parse((dest / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in INSTRUCTOR_SESSIONS:
            problems.append(f"noxfile.py still has the session {node.name!r}")
    if (dest / "reference").exists():
        problems.append("reference/ is in the release")
    return problems


def check_grade(dest: Path, how: str, maxima: dict[str, float] | None = None) -> list[str]:
    """Run the export's grading on its starters (in a scratch copy, so that DIR stays
    pristine); every test must fail with "not implemented yet". Each lab's points go into
    ``maxima`` (package -> max score), for the Classroom workflow."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="labkit-release-check-") as tmp:
        reports = Path(tmp) / "reports"
        dest = shutil.copytree(dest, Path(tmp) / "release")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "NOX_"))}
        env["PYTHONHASHSEED"] = "0"
        if how == "nox":
            cmd = [sys.executable, "-m", "nox", "-f", str(dest / "noxfile.py"), "-s", "grade",
                   "--envdir", str(Path(tmp) / "nox"), "--", "--report-dir", str(reports)]
        else:
            cmd = [sys.executable, "-m", "pytest", "graders", "--impl", "starter", "-q",
                   "--no-header", "-p", "no:cacheprovider", "--report-dir", str(reports)]
        proc = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True)
        path = reports / "score.json"
        if proc.returncode not in ((0,) if how == "nox" else (0, 1)):
            problems.append(f"`{' '.join(cmd[2:5])} ...` exited with {proc.returncode}:\n"
                            f"{(proc.stdout + proc.stderr)[-2000:]}")
        if not path.is_file():
            problems.append("grading the starters wrote no score.json")
            return problems
        report = json.loads(path.read_text())
        if maxima is not None:
            maxima.update({p: float(v["max_score"])
                           for p, v in report.get("extra_data", {}).get("labs", {}).items()})
        if report["score"] != 0 or report["max_score"] <= 0:
            problems.append(f"the starters scored {report['score']} of {report['max_score']}")
        for test in report["tests"]:
            out = test["output"]
            if not (out.startswith("not implemented yet") or "could not be loaded" in out):
                problems.append(f"{test['name']}: not a clean 'not implemented yet': "
                                f"{out.splitlines()[0] if out else '(no output)'}")
        summary = f"{len(report['tests'])} tests, {report['score']:g}/{report['max_score']:g}"
    print(f"  grading the starters in the release ({how}): {summary}")
    return problems


def classroom_labs(dest: Path, maxima: dict[str, float]) -> list[classroom.LabStep]:
    """The labs the release grades (those with graders in it), with their points."""
    return [classroom.LabStep(lab.short, f"Lab {lab.number}: {lab.title}",
                              maxima.get(lab.package, 0.0))
            for lab in LABS if (dest / "graders" / lab.package / "conftest.py").is_file()]


def release(dest: Path, *, root: Path = REPO, how: str = "nox", force: bool = False) -> int:
    dest = dest.resolve()
    if dest.exists() and any(dest.iterdir()):
        if not force:
            print(f"release: {dest} is not empty (use --force to replace it)", file=sys.stderr)
            return 2
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)
    copied, left = export(root, dest)
    print(f"release: {len(copied)} files written to {dest}; left out {len(left)}:")
    groups: dict[str, int] = {}
    for rel, why in left:
        key = why if why.startswith("under") else f"{rel} ({why})"
        groups[key] = groups.get(key, 0) + 1
    for key, n in sorted(groups.items()):
        print(f"  {key}" + (f": {n} files" if key.startswith("under") else ""))
    problems = check_sessions(dest)
    leaks = find_leaks(root / "reference", dest, allowed=root / "starter")
    problems += [f"reference code leaked: {leak}" for leak in leaks]
    print(f"  reference code in the release (normalised ASTs): "
          f"{'none' if not leaks else len(leaks)}")
    maxima: dict[str, float] = {}
    problems += check_grade(dest, how, maxima)
    steps = classroom_labs(dest, maxima)
    classroom.write(dest, steps)
    problems += classroom.check(dest, steps)
    print(f"  GitHub Classroom workflow: {classroom.WORKFLOW} (one step per lab: "
          f"{', '.join(f'{s.short} {s.max_score:g}' for s in steps)} points)")
    if problems:
        print("release: FAILED", file=sys.stderr)
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return 1
    print(f"release: ok. {dest} is the student repository (commit and push it as is).")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s release --", description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path, help="the folder to write (empty or new)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty DEST")
    parser.add_argument("--check-with", choices=("nox", "python"), default="nox",
                        help="grade the export with its own `nox -s grade` (default; needs "
                             "pip) or with this interpreter's pytest")
    args = parser.parse_args(argv)
    return release(args.dest, how=args.check_with, force=args.force)


if __name__ == "__main__":
    raise SystemExit(main())
