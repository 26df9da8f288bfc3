"""Labs plug in: a throw-away lab added as folders only (graders/, starter/, reference/) in a
copy of the repository is discovered and graded end to end, without touching labkit.

The copy holds labkit/ exactly as it is here, the graders' shared files and pyproject.toml,
plus the toy lab ``lab9_toy``: an echo node worth 3 points and a plain function worth 2. It is
graded on its reference (full marks), its starter ("not implemented yet"), a buggy version
(the failure is recorded with an id, not an INTERNALERROR), and once more with its ``lab.py``
removed (an undeclared lab folder still grades, under a title made from its name)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from graderun import REPO

pytestmark = pytest.mark.slow

PACKAGE = "lab9_toy"

FILES = {
    f"graders/{PACKAGE}/__init__.py": '"""A toy lab: graders."""\n',
    f"graders/{PACKAGE}/lab.py": """
        from labkit.grading.labs import Lab

        LAB = Lab("lab9", "lab9_toy", "Toy echo", "")
    """,
    f"graders/{PACKAGE}/conftest.py": """
        from labkit.grading import lab_fixture

        lab = lab_fixture("lab9_toy")
    """,
    f"graders/{PACKAGE}/test_echo.py": '''
        import pytest

        from labkit import PropertyViolation, Simulation
        from labkit.grading.scenario import scenario

        ECHO = "an echo node answers with what it was sent"


        @pytest.mark.points(3)
        def test_echo(lab):
            """An echo node answers with what it was sent"""
            sim = Simulation(lab.EchoNode, 2, seed=1)
            with scenario(sim, seed=1, schedule=()):
                op = sim.request("n1", {"op": "echo", "text": "hi"})
                sim.run_until_done(op)
                if op.output != {"text": "hi"}:
                    raise PropertyViolation(ECHO, f"{op.describe()}: expected {{'text': 'hi'}}")


        @pytest.mark.points(2)
        def test_double(lab):
            """double(x) is twice x"""
            assert lab.double(21) == 42, f"double(21) returned {lab.double(21)!r}, not 42"
    ''',
    f"starter/{PACKAGE}/__init__.py": '''
        from labkit import Node


        class EchoNode(Node):
            def on_request(self, request):
                raise NotImplementedError("EchoNode.on_request")


        def double(x):
            raise NotImplementedError("double")
    ''',
    f"reference/{PACKAGE}/__init__.py": '''
        from labkit import Node


        class EchoNode(Node):
            def on_request(self, request):
                self.reply(request, {"text": request.body["text"]})


        def double(x):
            return 2 * x
    ''',
    f"buggy/{PACKAGE}/__init__.py": '''
        from labkit import Node


        class EchoNode(Node):
            def on_request(self, request):
                self.reply(request, {"text": request.body["text"].upper()})


        def double(x):
            return 2 * x
    ''',
}


@pytest.fixture(scope="module")
def toy_repo(tmp_path_factory) -> Path:
    """A copy of labkit/, the graders' shared files and pyproject.toml, plus the toy lab."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(REPO / "labkit", root / "labkit",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (root / "graders").mkdir()
    for name in ("__init__.py", "conftest.py"):
        shutil.copy(REPO / "graders" / name, root / "graders" / name)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    for path, text in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text).lstrip())
    return root


def grade(root: Path, impl: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict]:
    report_dir = tmp_path / "reports"
    env = {**os.environ, "PYTHONHASHSEED": "0", "LABKIT_NO_RECHECK": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", f"graders/{PACKAGE}", "--impl", impl, "--report-dir",
         str(report_dir), "-q", "--no-header", "-p", "no:cacheprovider"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert "INTERNALERROR" not in out, out[-3000:]
    path = report_dir / "score.json"
    assert path.exists(), f"no score.json; exit {proc.returncode}\n{out[-3000:]}"
    return proc, json.loads(path.read_text())


def test_toy_lab_reference_scores_full_marks(toy_repo, tmp_path):
    proc, report = grade(toy_repo, "reference", tmp_path)
    assert (report["score"], report["max_score"]) == (5, 5), report
    assert [t["name"] for t in report["tests"]] == ["An echo node answers with what it was sent",
                                                    "double(x) is twice x"]
    assert [t["number"] for t in report["tests"]] == ["9.1", "9.2"]
    assert "Lab 9: Toy echo" in proc.stdout, proc.stdout[-3000:]   # the table shows the lab


def test_toy_lab_starter_is_not_implemented(toy_repo, tmp_path):
    _, report = grade(toy_repo, "starter", tmp_path)
    assert report["score"] == 0
    outputs = [t["output"] for t in report["tests"]]
    assert len(outputs) == 2 and all(o.startswith("not implemented yet") for o in outputs), \
        outputs


def test_toy_lab_failure_is_recorded(toy_repo, tmp_path):
    _, report = grade(toy_repo, str(toy_repo / "buggy"), tmp_path)
    assert (report["score"], report["max_score"]) == (2, 5), report
    echo = report["tests"][0]
    assert echo["status"] == "failed"
    assert "an echo node answers with what it was sent" in echo["output"], echo["output"]
    assert "failure id: lab9-" in echo["output"], echo["output"]
    assert list((tmp_path / "reports" / "failures").glob("lab9-*.json")), "no failure record"


def test_undeclared_lab_folder_still_grades(toy_repo, tmp_path):
    """Without lab.py the folder is still a lab (no crash, a score.json, a table row)."""
    (toy_repo / "graders" / PACKAGE / "lab.py").unlink()
    try:
        proc, report = grade(toy_repo, str(toy_repo / "buggy"), tmp_path)
    finally:
        (toy_repo / "graders" / PACKAGE / "lab.py").write_text(
            textwrap.dedent(FILES[f"graders/{PACKAGE}/lab.py"]).lstrip())
    assert (report["score"], report["max_score"]) == (2, 5), report
    assert "failure id: lab9-" in report["tests"][0]["output"]
    assert "lab9 toy" in proc.stdout, proc.stdout[-3000:]
