"""One test per class of attack of issue 14 (a security review's findings), each graded the way
batch grading grades: ``--sandbox``, as the user running the tests (root on CI's machines).

Each hostile submission is the untouched starter plus the attack (``tests/hostile/``), so its
honest twin is the starter, which earns 0 on every test: the attack must change nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from labkit.grading.labs import REPO

HOSTILE = REPO / "tests" / "hostile"

pytestmark = pytest.mark.slow

DUMP_PLUGIN = '''
import json, os, sys

def pytest_unconfigure(config):
    names = sorted({m.split(".")[0] for m in sys.modules})
    with open(os.environ["LK_DUMP_MODULES"], "w") as f:
        json.dump(names, f)
'''


def grade(sub: Path, out: Path, labs: list[str], *extra: str, env: dict | None = None,
          timeout: float = 900) -> tuple[subprocess.CompletedProcess, dict]:
    cmd = [sys.executable, "-m", "pytest", *[f"graders/{p}" for p in labs], "--impl", str(sub),
           "--report-dir", str(out), "-q", "-p", "no:cacheprovider", "-m", "not live",
           "--sandbox", *extra]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONHASHSEED": "0", **(env or {})})
    report = json.loads((out / "score.json").read_text())
    return proc, report


@pytest.mark.timeout(900)
def test_a_module_named_like_any_the_grader_imports_never_runs_in_the_grader(tmp_path):
    """Class 1: module shadowing. The submission ships ``hmac.py``, ``secrets.py``,
    ``ctypes.py``, ... (every module the grading process imports, checked below from its own
    ``sys.modules``); none of them runs there, and the score is the starter's."""
    from instructor.sample_class import hostile

    sub = hostile(HOSTILE / "shadow_modules.py", tmp_path / "submission")
    (tmp_path / "plug").mkdir()
    (tmp_path / "plug" / "lk_dump_modules.py").write_text(DUMP_PLUGIN)
    dump = tmp_path / "modules.json"
    proc, report = grade(sub, tmp_path / "reports", ["lab0_resilience"], "-p", "lk_dump_modules",
                         env={"PYTHONPATH": str(tmp_path / "plug"),
                              "LK_DUMP_MODULES": str(dump)})
    assert not (sub / "SHADOW_RAN_IN_GRADER").exists(), \
        (sub / "SHADOW_RAN_IN_GRADER").read_text()
    assert report["score"] == 0 and report["max_score"] > 0, proc.stdout[-2000:]
    assert all(t["status"] == "failed" for t in report["tests"])
    shipped = {p.stem for p in sub.glob("*.py")}
    imported = set(json.loads(dump.read_text()))
    missing = imported - shipped - {"__main__", "lk_dump_modules", "_hostile_payload",
                                    "_hostile_wrap"}
    assert not missing, f"the grader imports modules the attack does not shadow: {missing}"
    assert {"hmac", "secrets", "ctypes", "json", "hypothesis", "_pytest"} <= imported & shipped


def test_module_shadowing_does_work_in_process(tmp_path):
    """Why the sandbox must never put the folder on sys.path: in-process, it gets full marks."""
    from instructor.sample_class import hostile

    sub = hostile(HOSTILE / "shadow_modules.py", tmp_path / "submission")
    out = tmp_path / "reports"
    subprocess.run([sys.executable, "-m", "pytest", "graders/lab0_resilience", "--impl", str(sub),
                    "--report-dir", str(out), "-q", "-p", "no:cacheprovider"], cwd=REPO,
                   capture_output=True, text=True, timeout=600,
                   env={**os.environ, "PYTHONHASHSEED": "0"})
    assert (sub / "SHADOW_RAN_IN_GRADER").exists()
    assert json.loads((out / "score.json").read_text())["score"] > 0


# ----- the whole class of attacks in one batch, beside the reference -----------------------------

BATCH_LABS = ["lab0_resilience", "lab1_cap"]


def make_batch(dest: Path) -> dict[str, str]:
    """Every hostile submission, the untouched starter (their honest twin) and the reference,
    plus the intake attacks; returns the gradebook name of each special one."""
    from instructor.sample_class import copy_labs, hostile

    dest.mkdir()
    copy_labs(REPO / "reference", dest / "reference")
    copy_labs(REPO / "starter", dest / "starter")
    for payload in sorted(HOSTILE.glob("*.py")):
        hostile(payload, dest / f"hostile-{payload.stem}")
    # Zip path tricks: backslashes, "..", an absolute name, a link to the reference.
    starter_files = {f"labs/{p.relative_to(REPO / 'starter').as_posix()}": p.read_text()
                     for p in (REPO / "starter").rglob("*.py")}
    conftest = REPO / "graders" / "lab0_resilience" / "conftest.py"
    for name, entry in (("backslash", "..\\..\\..\\..\\graders\\lab0_resilience\\conftest.py"),
                        ("dotdot", "labs/../../../graders/lab0_resilience/conftest.py"),
                        ("absolute", str(conftest))):
        with zipfile.ZipFile(dest / f"zip-{name}.zip", "w") as z:
            for rel, text in starter_files.items():
                z.writestr(rel, text)
            z.writestr(entry, "raise SystemExit('the graders were replaced')\n")
    with zipfile.ZipFile(dest / "zip-link.zip", "w") as z:
        info = zipfile.ZipInfo("labs/lab0_resilience")
        info.external_attr = 0o120777 << 16
        z.writestr(info, str(REPO / "reference" / "lab0_resilience"))
        z.writestr("labs/lab1_cap/__init__.py", "")
    # A folder whose starter/ is a link to the repository's reference/.
    (dest / "linked-starter").mkdir()
    (dest / "linked-starter" / "starter").symlink_to(REPO / "reference")
    # A name that is not UTF-8.
    odd = os.fsdecode(b"odd-\xff\xfe-name")
    copy_labs(REPO / "starter", dest / odd)
    return {"odd": "odd-\\xff\\xfe-name"}


def lines_of(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if len(line.strip()) >= 25}


@pytest.mark.timeout(2400)
def test_every_attack_scores_what_the_starter_scores_beside_a_full_marks_reference(tmp_path):
    """All classes at once, graded by ``grade_class --jobs 2`` as root: every hostile one scores
    exactly what the starter scores, the intake attacks are refused with their reason (and wrote
    nothing), the odd name has its row, and the reference keeps full marks."""
    folder = tmp_path / "class"
    names = make_batch(folder)
    conftest = REPO / "graders" / "lab0_resilience" / "conftest.py"
    before = conftest.read_bytes()
    out = tmp_path / "out"
    token = "hostile-batch-token-" + os.urandom(6).hex()
    proc = subprocess.run([sys.executable, "-m", "instructor.grade_class", str(folder), "--jobs",
                           "2", "--out", str(out), "--labs", ",".join(BATCH_LABS),
                           "--test-timeout", "300", "--time-limit", "1200"],
                          cwd=REPO, capture_output=True, text=True, timeout=2300,
                          env={**os.environ, "PYTHONHASHSEED": "0", "LK_SECRET": token})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert conftest.read_bytes() == before
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as f:
        import csv
        book = {row["submission"]: row for row in csv.DictReader(f)}
    ref, starter = book["reference"], book["starter"]
    assert ref["status"] == "ok" and float(ref["total"]) == float(ref["max_total"]) > 0, ref
    assert starter["status"] == "ok"
    for payload in sorted(HOSTILE.glob("*.py")):
        row = book[f"hostile-{payload.stem}"]
        assert float(row["total"]) == float(starter["total"]), (payload.stem, row)
        for lab in ("lab0", "lab1"):
            assert float(row[lab]) == float(starter[lab]), (payload.stem, lab, row)
    for name in ("zip-backslash.zip", "zip-dotdot.zip", "zip-absolute.zip"):
        assert book[name]["status"] == "invalid" and "refused" in book[name]["reason"], book[name]
    assert "symbolic link" in book["zip-link.zip"]["reason"]
    assert book["linked-starter"]["status"] == "invalid"
    assert "symbolic link" in book["linked-starter"]["reason"]
    assert book[names["odd"]]["status"] == "ok"
    assert float(book[names["odd"]]["total"]) == float(starter["total"])
    reports = out / "reports"
    # No grader file, no environment of the grader, in any report of the traceback attack.
    text = "".join(p.read_text(errors="replace") for p in
                   (reports / "hostile-file_tracebacks").rglob("*") if p.is_file()
                   and p.suffix in (".json", ".md", ".html"))
    secret_lines = (lines_of(REPO / "reference" / "lab0_resilience" / "breaker.py")
                    | lines_of(REPO / "graders" / "lab0_resilience" / "conftest.py")
                    | lines_of(REPO / "labkit" / "grading" / "plugin.py"))
    leaked = [line for line in secret_lines if line in text]
    assert not leaked, leaked[:5]
    assert token not in text and "LABKIT_JOB_TOKEN" not in text
    # Nothing reached another process, the network, or the grader's disk.
    for name in ("reach_other_jobs", "reach_network", "fill_disk"):
        reached = (reports / f"hostile-{name}" / "score.json").read_text()
        assert "REACHED" not in reached, name
    # No attack gets its failures blamed on the grader ("internal error ... not your fault").
    for payload in sorted(HOSTILE.glob("*.py")):
        score = (reports / f"hostile-{payload.stem}" / "score.json").read_text()
        assert "internal error in the grader" not in score, (payload.stem, score[:2000])
    # Output floods stay small.
    size = sum(p.stat().st_size for p in (reports / "hostile-huge_output").rglob("*")
               if p.is_file())
    assert size < 25 * 1024 * 1024, size


@pytest.mark.timeout(2400)
def test_every_attack_scores_what_the_starter_scores_in_the_gradescope_bundle(tmp_path):
    """The same attacks through the Gradescope bundle run locally (Lab 0): the reference earns
    every point, the starter and each hostile submission the same score, a linked folder is
    refused."""
    from instructor import gradescope
    from instructor.jobs import Limits
    from instructor.sample_class import copy_labs, hostile

    bundle = gradescope.build(tmp_path / "autograder.zip", labs=["lab0"], limits=Limits())
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(bundle) as z:
        z.extractall(root / "source")
    env = {**os.environ, "LABKIT_AUTOGRADER_ROOT": str(root),
           "LABKIT_AUTOGRADER_PYTHON": sys.executable, "PYTHONHASHSEED": "0"}

    def run(submission: Path) -> dict:
        import shutil

        shutil.rmtree(root / "submission", ignore_errors=True)
        shutil.copytree(submission, root / "submission", symlinks=True)
        proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return json.loads((root / "results" / "results.json").read_text())

    ref = run(copy_labs(REPO / "reference", tmp_path / "ref"))
    assert ref["score"] == ref["max_score"] > 0
    starter = run(copy_labs(REPO / "starter", tmp_path / "starter"))
    for payload in sorted(HOSTILE.glob("*.py")):
        got = run(hostile(payload, tmp_path / f"h-{payload.stem}"))
        assert got["score"] == starter["score"], (payload.stem, got["output"][:500])
        assert "internal error in the grader" not in json.dumps(got), payload.stem
        assert got["max_score"] == ref["max_score"], payload.stem
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "starter").symlink_to(REPO / "reference")
    got = run(tmp_path / "linked")
    assert got["score"] == 0 and "symbolic link" in got["output"]


def test_a_child_that_cannot_drop_root_is_refused_unless_allowed(monkeypatch):
    """Class 6: as root, the child becomes a uid of its own; if it cannot, grading refuses and
    says how to fix it, and the explicit override is warned about."""
    from labkit.errors import GraderBug
    from labkit.sandbox import probe_layers, root_warning

    if os.geteuid() != 0:
        pytest.skip("only a root grader has root to drop")
    layers = probe_layers()
    assert any(layer.startswith("user ") for layer in layers), layers
    assert root_warning(layers) == ""
    monkeypatch.setenv("LABKIT_SANDBOX_USER", "no-such-user-here")
    with pytest.raises(GraderBug, match="refuses to run.*LABKIT_SANDBOX_ALLOW_ROOT=1"):
        probe_layers()
    monkeypatch.setenv("LABKIT_SANDBOX_ALLOW_ROOT", "1")
    layers = probe_layers()
    assert "as root" in root_warning(layers)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="seccomp is Linux's")
def test_a_layer_the_machine_should_give_and_did_not_is_a_refusal(tmp_path, monkeypatch):
    """A seccomp filter that could not be installed (here: no binding of libseccomp imports,
    as when the child cannot read the one installed) stops the child before any student code
    runs, and grading refuses with the reason and the fix, instead of going on with a weaker
    sandbox. The instructor's explicit override is said in every gradebook row."""
    from labkit.errors import GraderBug
    from labkit.sandbox import Sandbox, Settings, row_warning

    (tmp_path / "pkg").mkdir()
    # Student code that ran would end the child: a crash, not the refusal.
    (tmp_path / "pkg" / "__init__.py").write_text("import os\nos._exit(3)\n")
    sandbox = Sandbox(tmp_path, "pkg", Settings(seccomp_bindings=("no_such_seccomp_binding",)))
    try:
        with pytest.raises(GraderBug, match=r"refuses to run.*seccomp: no libseccomp binding.*"
                                            r"no_such_seccomp_binding.*LABKIT_SANDBOX_SECCOMP=0"):
            sandbox.module()
    finally:
        sandbox.stop()
    monkeypatch.delenv("LABKIT_SANDBOX_SECCOMP", raising=False)
    monkeypatch.delenv("LABKIT_SANDBOX_LANDLOCK", raising=False)
    assert "turned off" not in row_warning([])
    monkeypatch.setenv("LABKIT_SANDBOX_SECCOMP", "0")
    assert "seccomp filter turned off" in row_warning([])


def test_a_sandbox_that_refuses_to_run_is_not_blamed_on_the_submission(tmp_path, monkeypatch):
    """Where the sandbox refuses (a grading machine without libseccomp: a Dask worker, a
    student's own ``--sandbox`` run), every test of the lab says it is the grader's problem,
    not that the submission "does not import", and the refusal is met once per run."""
    from labkit.errors import GraderBug
    from labkit.grading import loader, plugin

    (tmp_path / "lab0_resilience").mkdir()
    refusals = []

    def refuse(root, package):
        refusals.append(package)
        raise GraderBug("sandboxed grading refuses to run: no seccomp here")

    monkeypatch.setattr(loader, "_sandboxed_import", refuse)
    monkeypatch.setattr(loader, "_sandboxed", True)
    monkeypatch.setattr(loader, "_impl_dir", tmp_path)
    monkeypatch.setattr(loader, "_cache", {})
    for _ in range(2):
        with pytest.raises(GraderBug) as raised:
            loader.load_lab("lab0_resilience")
    assert refusals == ["lab0_resilience"]
    text = plugin._ours(raised.value, "")
    assert text.startswith("internal error in the grader (not your fault") and \
        "no seccomp here" in text


def test_two_children_never_share_a_uid():
    from labkit.sandbox.process import child_user

    users = [child_user("auto") for _ in range(999)]
    assert len(set(users)) == 999 and all(int(u.split(":")[0]) >= 10_000_000 for u in users)
    other = subprocess.run([sys.executable, "-c", "from labkit.sandbox.process import "
                            "child_user; print(child_user('auto'))"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    assert other and other not in users                  # another grading process
