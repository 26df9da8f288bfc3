"""The instructor workflow (instructor): the student release and its leak check, what a
submission is, grading a class into a gradebook that never loses a row, and the Gradescope
bundle run from a temporary /autograder."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from instructor import leaks, release, sample_class, submissions
from instructor.grade_class import grade_class
from instructor.jobs import Job, Limits
from instructor.progress import Progress

from test_sandbox import course  # noqa: F401 - the fake course fixture

REPO = Path(__file__).resolve().parents[1]


# ----- leaks -------------------------------------------------------------------------------------

SOLUTION = '''
def quorum_write(self, key, value):
    """Write to a majority."""
    version = self.next_version(key)
    acks = {self.id}
    for peer in sorted(self.peers):
        if self.reachable(peer):
            acks.add(peer)
            self.send(peer, {"type": "write", "key": key, "value": value, "version": version})
    if len(acks) * 2 > len(self.peers) + 1:
        return version
    raise RuntimeError("no quorum")


def getter(self):
    return self._value
'''

RENAMED = '''
import json


class Helper:
    def unrelated(self):
        return 1

    def sneaky(self, k, v):
        print("starting")
        ver = self.next_version(k)
        got = {self.id}
        for p in sorted(self.peers):
            if self.reachable(p):
                got.add(p)
                self.send(p, {"type": "write", "key": k, "value": v, "version": ver})
        if len(got) * 2 > len(self.peers) + 1:
            return ver
        raise RuntimeError("no quorum")
'''


def test_leaks_are_found_as_code_not_text(tmp_path):
    ref, rel, starter = tmp_path / "reference", tmp_path / "release", tmp_path / "starter"
    for d in (ref, rel, starter):
        d.mkdir()
    (ref / "sol.py").write_text(SOLUTION)
    (rel / "clean.py").write_text("def getter(self):\n    return self._value\n")
    assert leaks.find_leaks(ref, rel) == []            # a trivial body is not a solution
    (rel / "copied.py").write_text(RENAMED)             # renamed, inside another function
    found = leaks.find_leaks(ref, rel)
    assert len(found) == 1 and found[0].found == "copied.py:11"
    assert "quorum_write" in str(found[0])
    (starter / "given.py").write_text(SOLUTION)          # given to students on purpose
    assert leaks.find_leaks(ref, rel, allowed=starter) == []


# ----- release -----------------------------------------------------------------------------------

def test_exported_noxfile_has_no_instructor_session():
    text = release.student_noxfile((REPO / "noxfile.py").read_text())
    import ast

    names = {n.name for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)}
    assert {"grade", "tests"} <= names
    assert not names & set(release.INSTRUCTOR_SESSIONS)
    assert "nox -s reference" not in text and "instructor-only sessions" in text


def test_exported_readme_has_no_instructor_section():
    text = release.student_readme("# Labs\n\n## Quick start\n\nrun it\n\n| `reference/` | "
                                  "solutions |\n| `starter/` | yours |\n\n## For instructors"
                                  "\n\nsecret\n\n## Instructors\n\nmore\n")
    assert "secret" not in text and "more" not in text and "`reference/`" not in text
    assert "`starter/`" in text and "run it" in text


def test_test_files_that_need_the_reference_stay_out():
    assert release.instructor_only(REPO, Path("reference/lab1_cap/kvnode.py"))
    assert release.instructor_only(REPO, Path("tests/test_lab1_cap.py"))
    assert release.instructor_only(REPO, Path("tests/graderun.py"))
    assert release.instructor_only(REPO, Path("tests/test_sandbox.py"))
    assert release.instructor_only(REPO, Path("instructor/release.py"))
    assert not release.instructor_only(REPO, Path("tests/test_grading.py"))
    assert not release.instructor_only(REPO, Path("tests/test_simulator.py"))
    assert not release.instructor_only(REPO, Path("labkit/sandbox/child.py"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_release_of_this_repository(tmp_path):
    dest = tmp_path / "student-repo"
    proc = subprocess.run([sys.executable, "-m", "instructor.release", str(dest),
                           "--check-with", "python"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "reference code in the release (normalised ASTs): none" in proc.stdout
    assert (dest / "starter").is_dir() and (dest / "graders").is_dir()
    assert (dest / "labkit" / "sandbox").is_dir()
    for gone in ("reference", "tests/buggy", "tests/hostile", "instructor",
                 "tests/test_sandbox.py", "tests/graderun.py", ".hypothesis", "reports"):
        assert not (dest / gone).exists(), gone
    # A solution pasted into the release, renamed, is caught by the same check.
    body = leaks.function_bodies(REPO / "reference", "reference")
    assert body, "the reference has function bodies to protect"
    target = max(body, key=lambda b: b.size)
    path, line = target.where.split(" ")[0].split(":")
    source = (REPO / path).read_text().splitlines()
    import ast

    fn = next(n for n in ast.walk(ast.parse("\n".join(source)))
              if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.lineno == int(line))
    (dest / "labkit" / "helpers.py").write_text(textwrap.dedent(ast.unparse(fn)) + "\n")
    found = leaks.find_leaks(REPO / "reference", dest, allowed=REPO / "starter")
    assert [f.found.split(":")[0] for f in found] == ["labkit/helpers.py"]


# ----- submissions -------------------------------------------------------------------------------

def make_zip(path: Path, entries: dict[str, str], links: dict[str, str] = {}) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, text in entries.items():
            z.writestr(name, text)
        for name, target in links.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            z.writestr(info, target)
    return path


def test_zips_are_unpacked_defensively(tmp_path):
    good = make_zip(tmp_path / "good.zip", {"repo/starter/lab1_cap/__init__.py": "X = 1\n",
                                            "repo\\starter\\lab1_cap\\more.py": "Y = 2\n",
                                            "repo/x/../starter/lab1_cap/third.py": "",
                                            "__MACOSX/._junk": "x"})
    out = submissions.unpack(good, tmp_path / "out")
    assert submissions.find_impl(out) == out / "repo" / "starter"
    assert sorted(p.name for p in (out / "repo" / "starter" / "lab1_cap").iterdir()) == \
        ["__init__.py", "more.py", "third.py"]
    assert not (out / "__MACOSX").exists()
    device = zipfile.ZipInfo("repo/starter/lab1_cap/dev")
    device.external_attr = 0o020666 << 16
    cases = {
        "climbs out": {"../evil.py": "x"},
        "absolute": {"/abs.py": "x"},
        "climbs out ": {"a\\..\\..\\evil.py": "x"},         # backslashes are separators too
        "absolute ": {"\\tmp\\evil.py": "x"},
        "absolute  ": {"C:/evil.py": "x"},
    }
    for i, (match, entries) in enumerate(cases.items()):
        zpath = make_zip(tmp_path / f"bad{i}.zip", {"repo/starter/lab1_cap/__init__.py": "",
                                                     **entries})
        with pytest.raises(submissions.InvalidSubmission, match=match.strip()):
            submissions.unpack(zpath, tmp_path / f"bad{i}")
        assert not (tmp_path / "evil.py").exists() and not Path("/tmp/evil.py").exists()
    link = make_zip(tmp_path / "link.zip", {"repo/starter/lab1_cap/__init__.py": ""},
                    links={"repo/starter/lab0_resilience": str(REPO / "reference" /
                                                               "lab0_resilience")})
    with pytest.raises(submissions.InvalidSubmission, match="symbolic link"):
        submissions.unpack(link, tmp_path / "link")
    with zipfile.ZipFile(tmp_path / "dev.zip", "w") as z:
        z.writestr(device, "")
    with pytest.raises(submissions.InvalidSubmission, match="special file"):
        submissions.unpack(tmp_path / "dev.zip", tmp_path / "dev")
    (tmp_path / "junk.zip").write_text("not a zip")
    with pytest.raises(submissions.InvalidSubmission, match="not a readable zip"):
        submissions.unpack(tmp_path / "junk.zip", tmp_path / "out2")
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.bin", b"\0" * (submissions.MAX_BYTES + 1))
    with pytest.raises(submissions.InvalidSubmission, match="more than"):
        submissions.unpack(bomb, tmp_path / "out3")


def test_folders_are_copied_without_following_links(tmp_path):
    sub = tmp_path / "sub"
    (sub / "starter" / "lab1_cap").mkdir(parents=True)
    (sub / "starter" / "lab1_cap" / "__init__.py").write_text("X = 1\n")
    copy = submissions.prepare(submissions.Submission("sub", sub), tmp_path / "work")
    assert copy == tmp_path / "work" / "sub" / "starter"
    assert (copy / "lab1_cap" / "__init__.py").read_text() == "X = 1\n"
    (sub / "starter" / "lab0_resilience").symlink_to(REPO / "reference" / "lab0_resilience")
    with pytest.raises(submissions.InvalidSubmission, match="symbolic link.*lab0_resilience"):
        submissions.prepare(submissions.Submission("sub", sub), tmp_path / "work")
    linked = tmp_path / "linked"
    linked.symlink_to(REPO / "reference")
    with pytest.raises(submissions.InvalidSubmission, match="is a symbolic link"):
        submissions.prepare(submissions.Submission("linked", linked), tmp_path / "work")
    os.mkfifo(sub / "starter" / "pipe")
    (sub / "starter" / "lab0_resilience").unlink()
    with pytest.raises(submissions.InvalidSubmission, match="special file"):
        submissions.prepare(submissions.Submission("sub", sub), tmp_path / "work")


def test_any_name_gets_a_printable_row_name():
    assert submissions.display_name("alice") == "alice"
    odd = os.fsdecode(b"caf\xe9-\xff")
    assert submissions.display_name(odd) == "caf\\xe9-\\xff"
    assert submissions.display_name("tab\there") == "tab\\u0009here"
    assert submissions.display_name("日本") == "日本"


def test_find_impl_layouts(tmp_path):
    flat = tmp_path / "flat" / "lab1_cap"
    flat.mkdir(parents=True)
    assert submissions.find_impl(tmp_path / "flat") == tmp_path / "flat"
    clone = tmp_path / "clone" / "starter" / "lab2_raft"
    clone.mkdir(parents=True)
    (tmp_path / "clone" / "graders").mkdir()
    assert submissions.find_impl(tmp_path / "clone") == tmp_path / "clone" / "starter"
    nested = tmp_path / "nested" / "my-labs" / "lab0_resilience"
    nested.mkdir(parents=True)
    assert submissions.find_impl(tmp_path / "nested") == tmp_path / "nested" / "my-labs"
    (tmp_path / "none").mkdir()
    with pytest.raises(submissions.InvalidSubmission, match="no lab package"):
        submissions.find_impl(tmp_path / "none")


# ----- grading one submission, and a class -------------------------------------------------------

def fake_class(course: Path, dest: Path) -> Path:  # noqa: F811 - course is the fixture's value
    impls = course / "impls"
    dest.mkdir()
    shutil.copytree(impls / "good", dest / "alice")
    shutil.copytree(impls / "starter", dest / "bob")
    shutil.copytree(impls / "exits", dest / "mallory")               # os._exit in on_start
    shutil.copytree(impls / "syntax", dest / "carol")
    make_zip(dest / "dave.zip", {"dave-labs/lab1_cap/__init__.py":
                                 (impls / "good" / "lab1_cap" / "__init__.py").read_text()})
    (dest / "erin").mkdir()                                            # nothing in it
    (dest / "frank.zip").write_text("not a zip")
    (dest / "notes.txt").write_text("not a submission")
    return dest


def read_gradebook(out: Path) -> dict[str, dict]:
    with open(out / "gradebook.csv", newline="") as f:
        return {row["submission"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_grade_class_gradebook_and_resume(course, tmp_path):  # noqa: F811
    folder = fake_class(course, tmp_path / "class")
    out = tmp_path / "out"
    limits = Limits(time_s=120, test_timeout=20)
    progress = Progress(0, stream=open(os.devnull, "w"))
    grade_class(folder, out, jobs=2, resume=False, limits=limits, root=course,
                progress=progress)
    book = read_gradebook(out)
    assert list(book) == ["alice", "bob", "carol", "dave.zip", "erin", "frank.zip", "mallory"]
    assert list(next(iter(book.values()))) == ["submission", "lab1", "total", "max_total",
                                               "status", "duration_s", "reason"]
    status = {name: row["status"] for name, row in book.items()}
    assert status == {"alice": "ok", "bob": "ok", "carol": "ok", "dave.zip": "ok",
                      "erin": "invalid", "frank.zip": "invalid", "mallory": "ok"}
    totals = {name: float(row["total"]) for name, row in book.items()}
    assert totals["alice"] == totals["dave.zip"] == 16 == float(book["alice"]["max_total"])
    assert totals["carol"] == totals["mallory"] == totals["erin"] == 0
    assert totals["bob"] == 1              # the starter honestly passes the careless test...
    # ...which mallory (os._exit) cannot: a sandbox crash always fails the test it happens in
    assert "no lab package" in book["erin"]["reason"]
    for name in book:                                   # one report per submission, always
        report = json.loads((out / "reports" / name / "score.json").read_text())
        assert report["score"] == totals[name]
    mallory = json.loads((out / "reports" / "mallory" / "score.json").read_text())
    assert any("exited with code 0" in t["output"] for t in mallory["tests"])

    # --resume: only what is not ok, or changed, is graded again.
    before = json.loads((out / "state.json").read_text())
    (folder / "bob" / "lab1_cap" / "__init__.py").write_text(
        (folder / "alice" / "lab1_cap" / "__init__.py").read_text())
    grade_class(folder, out, jobs=2, resume=True, limits=limits, root=course,
                progress=Progress(0, stream=open(os.devnull, "w")))
    after = json.loads((out / "state.json").read_text())
    book = read_gradebook(out)
    assert float(book["bob"]["total"]) == 16                   # changed: graded again
    for kept in ("alice", "carol", "dave.zip", "mallory"):
        assert after[kept] == before[kept]                     # ok and unchanged: kept
    assert len(book) == 7


@pytest.mark.timeout(300)
def test_a_job_that_runs_out_of_time_fails_closed(course, tmp_path):  # noqa: F811
    job = Job(course / "impls" / "loops", tmp_path / "report", Limits(time_s=4, test_timeout=60),
              root=course)
    job.start()
    result = job.wait()
    assert result.status == "timeout" and result.total == 0
    assert "longer than 4 s" in result.reason
    assert not any(job.token.encode() in _environ(pid) for pid in _pids())


@pytest.mark.timeout(300)
def test_a_grader_that_writes_no_report_fails_closed(course, tmp_path):  # noqa: F811
    broken = tmp_path / "broken-course"
    shutil.copytree(course, broken, ignore=shutil.ignore_patterns("reports", "impls"))
    (broken / "graders" / "lab1_cap" / "test_zz_exit.py").write_text(
        "import os\n\ndef test_exit():\n    os._exit(0)\n")
    job = Job(course / "impls" / "good", tmp_path / "report", Limits(time_s=120), root=broken)
    job.start()
    result = job.wait()
    assert result.status == "crashed" and "no report" in result.reason and result.total == 0


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""


# ----- Gradescope --------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.timeout(600)
def test_gradescope_bundle_grades_a_submission_in_a_temporary_autograder(tmp_path):
    from instructor import gradescope

    if not (REPO / "graders" / "lab0_resilience" / "conftest.py").is_file():
        pytest.skip("lab0 has no graders yet")
    bundle = gradescope.build(tmp_path / "autograder.zip", labs=["lab0"], limits=Limits())
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
        z.extractall(root / "source")
    assert {"setup.sh", "run_autograder", "requirements.txt", "gradescope.json"} <= set(names)
    assert not any(n.startswith(("reference/", "starter/", "tests/")) for n in names)
    assert subprocess.run(["bash", "-n", str(root / "source" / "setup.sh")]).returncode == 0
    env = {**os.environ, "LABKIT_AUTOGRADER_ROOT": str(root),
           "LABKIT_AUTOGRADER_PYTHON": sys.executable, "PYTHONHASHSEED": "0"}

    def run(submission: Path) -> dict:
        shutil.rmtree(root / "submission", ignore_errors=True)
        shutil.copytree(submission, root / "submission")
        proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                              capture_output=True, text=True, timeout=500)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads((root / "results" / "results.json").read_text())

    ref = tmp_path / "ref"
    sample_class.copy_labs(REPO / "reference", ref)
    results = run(ref)
    assert results["score"] == results["max_score"] > 0 and results["tests"]
    hostile = sample_class.hostile(REPO / "tests" / "hostile" / "os_exit.py", tmp_path / "h")
    results = run(hostile)
    assert results["score"] == 0 and results["tests"]
    (tmp_path / "empty").mkdir()
    results = run(tmp_path / "empty")
    assert results["score"] == 0 and results["output"].startswith("Not graded (invalid)")


# ----- the sample class --------------------------------------------------------------------------

def test_sample_class_lists_what_each_submission_should_get(tmp_path):
    expected = sample_class.build(tmp_path / "class", variants="one")
    assert len(expected) >= 20
    assert expected["reference"]["score"] == "full" and expected["empty"]["status"] == "invalid"
    assert all((tmp_path / "class" / name).exists() for name in expected)
    for name, want in expected.items():
        if name.startswith("hostile-"):
            assert want == {"status": "ok", "score": 0}
    variant = next(name for name in expected if name.startswith("buggy-"))
    text = "".join(p.read_text() for p in (tmp_path / "class" / variant).rglob("*.py"))
    assert "instructor.testing" not in text                      # self-contained


@pytest.mark.skipif(not os.environ.get("LABKIT_ACCEPTANCE"),
                    reason="the full acceptance run takes minutes: set LABKIT_ACCEPTANCE=1")
@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_acceptance_from_a_fresh_copy(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "instructor.acceptance", str(tmp_path),
                           "--variants", os.environ.get("LABKIT_ACCEPTANCE_VARIANTS", "one")],
                          cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
