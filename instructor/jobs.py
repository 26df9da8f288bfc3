"""Grading a submission, one lab per grading process, each in its own process group with a
time and a memory limit, failing closed: a lab's result is read from the report the trusted
grader wrote, and anything else (no report, a broken one, a timeout, a crash) is a zero for that
lab, with the reason. One lab per process means a submission that hangs in one lab keeps the
points it earned in the others.

    job = Job(impl, report_dir, Limits(time_s=600), labs=["lab2_raft"])
    job.start()
    while not job.done():
        time.sleep(0.2)
    result = job.result         # status ok / timeout / crashed, score per lab, reason
    result, report = merge({"lab2_raft": result, ...}, ...)    # the whole submission

The grading process is ``python -m pytest graders/... --impl IMPL --sandbox``: the simulator,
the checkers and the report writer run there, student code in its sandboxed children. Every
process of the job carries a token in its environment; when the job ends, whatever is left of
it (the grader, its children, anything they forked) is killed.
"""

from __future__ import annotations

import json
import math
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from labkit.grading.labs import LABS, REPO
from labkit.sandbox import procs

OK, TIMEOUT, CRASHED, INVALID = "ok", "timeout", "crashed", "invalid"
MAX_OUTPUT = 20_000                 # characters of one test's failure text in a report
MAX_REPORT_BYTES = 20 * 1024 * 1024  # the files one lab's grading leaves in its report folder


# The sandbox settings a job takes from the environment of whoever starts it (a cluster job
# takes them from grade_class's, not the worker's).
FORWARDED_ENV = ("LABKIT_SANDBOX_USER", "LABKIT_SANDBOX_LANDLOCK", "LABKIT_SANDBOX_NAMESPACES",
                 "LABKIT_SANDBOX_SECCOMP", "LABKIT_SANDBOX_CPU", "LABKIT_NO_RECHECK",
                 "LABKIT_SANDBOX_ALLOW_ROOT", "LABKIT_SANDBOX_IMPORT_TIMEOUT",
                 "LABKIT_SANDBOX_CPU_S")


@dataclass
class Limits:
    time_s: float = 600.0           # wall-clock seconds per lab of a submission
    memory_mb: int = 4096           # address space of the grading process
    test_timeout: float = 120.0     # pytest-timeout per test
    call_timeout: float = 10.0      # one call into student code (a handler) in the sandbox
    child_memory_mb: int = 1024     # address space of each sandboxed child
    live: bool = False              # also run the live (real processes) tests


@dataclass
class Result:
    status: str
    reason: str = ""
    labs: dict[str, tuple[float, float]] = field(default_factory=dict)   # package -> (score, max)
    duration: float = 0.0

    @property
    def total(self) -> float:
        return sum(s for s, _ in self.labs.values())

    @property
    def max_total(self) -> float:
        return sum(m for _, m in self.labs.values())


def graded_labs(root: Path, labs: list[str] | None) -> list[str]:
    """The packages of the labs to grade: those asked for (all by default) that have graders."""
    return [lab.package for lab in LABS
            if (not labs or lab.short in labs or lab.package in labs)
            and (root / "graders" / lab.package / "conftest.py").is_file()]


def grader_dirs(root: Path, labs: list[str] | None) -> list[str]:
    return [str(Path(os.path.abspath(root)) / "graders" / package)
            for package in graded_labs(root, labs)]


class Job:
    """One submission being graded (see the module docstring)."""

    def __init__(self, impl: Path, report_dir: Path, limits: Limits, *, root: Path = REPO,
                 labs: list[str] | None = None, python: str = sys.executable,
                 die_with_parent: bool = False, cpu: int | None = None):
        self.die_with_parent = die_with_parent   # a cluster worker: dies with the worker
        self.cpu = cpu       # the CPU its grader and sandbox share (process.share_one_cpu)
        self.impl = Path(os.path.abspath(impl))
        self.report_dir = Path(os.path.abspath(report_dir))
        self.limits = limits
        self.root = root
        self.labs = labs
        self.python = python
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.result: Result | None = None
        self.token = secrets.token_hex(12)
        self.tmp: Path | None = None

    def command(self) -> list[str]:
        dirs = grader_dirs(self.root, self.labs)
        args = [self.python, "-m", "pytest", *dirs, "--impl", str(self.impl), "--sandbox",
                "--report-dir", str(self.report_dir), "-q", "--no-header", "-p", "no:cacheprovider",
                "--timeout", f"{self.limits.test_timeout:g}", "-o", "console_output_style=classic"]
        if not self.limits.live:
            args += ["-m", "not live"]
        return args

    def start(self) -> None:
        shutil.rmtree(self.report_dir, ignore_errors=True)
        self.report_dir.mkdir(parents=True)
        if not grader_dirs(self.root, self.labs):
            self.result = Result(CRASHED, "no grader suite to run (no graders/<lab>/conftest.py)")
            return
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LABKIT_"))}
        paths = [os.path.abspath(self.root)] + ([] if (self.root / "labkit").is_dir()
                                                else [str(REPO)])
        env.update({"PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
                    "PYTHONPATH": os.pathsep.join(paths),
                    "LABKIT_JOB_TOKEN": self.token,
                    "LABKIT_SANDBOX_CALL_TIMEOUT": str(math.ceil(self.limits.call_timeout)),
                    "LABKIT_SANDBOX_MEMORY_MB": str(self.limits.child_memory_mb)})
        for name in FORWARDED_ENV:
            if name in os.environ:
                env[name] = os.environ[name]
        if self.cpu is not None and "LABKIT_SANDBOX_CPU" not in env:
            env["LABKIT_SANDBOX_CPU"] = str(self.cpu)
        # A private temporary folder (the sandbox's staging copies go there): removed when the
        # job ends, even if the grading process had to be killed.
        self.tmp = Path(tempfile.mkdtemp(prefix="labkit-job-"))
        os.chmod(self.tmp, 0o755)
        env["TMPDIR"] = str(self.tmp)
        procs.become_subreaper()
        self.started = time.monotonic()
        with open(self.report_dir / "grading.log", "wb") as log:
            # From the private folder, not the repository: nothing the grading process
            # finds in its working directory (``reference/``) is there.
            self.proc = subprocess.Popen(self.command(), cwd=self.tmp, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True,
                                         preexec_fn=_die_with_parent if self.die_with_parent
                                         else None)
        try:
            limit = self.limits.memory_mb * 1024 * 1024
            resource.prlimit(self.proc.pid, resource.RLIMIT_AS, (limit, limit))
        except (OSError, ValueError, AttributeError):
            pass

    def done(self) -> bool:
        """Poll; True once the result is known (the job finished, or ran out of time)."""
        if self.result is not None:
            return True
        code = self.proc.poll()
        elapsed = time.monotonic() - self.started
        if code is None and elapsed <= self.limits.time_s:
            return False
        self._stop()
        if code is None:
            self.result = Result(TIMEOUT, f"grading took longer than {self.limits.time_s:g} s "
                                          f"and was stopped; no score is given (fail closed)")
        else:
            self.result = self._read(code)
        self.result.duration = round(elapsed, 1)
        return True

    def wait(self) -> Result:
        while not self.done():
            time.sleep(0.2)
        return self.result

    def kill(self) -> None:
        if self.proc is not None and self.result is None:
            self._stop()
            self.result = Result(CRASHED, "grading was interrupted")

    def _stop(self) -> None:
        procs.kill_tree(self.proc.pid, self.proc.pid, f"LABKIT_JOB_TOKEN={self.token}")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _read(self, code: int) -> Result:
        """The result, from the report the grader wrote; fail closed on anything odd."""
        path = self.report_dir / "score.json"
        tail = log_tail(self.report_dir / "grading.log")
        if code not in (0, 1):
            what = {2: "was interrupted", 3: "hit an internal error", 4: "was misused",
                    5: "collected no test"}.get(code) if code > 0 else f"was killed by signal {-code}"
            return Result(CRASHED, f"the grading process {what or f'exited with code {code}'}; "
                                   f"no score is given (fail closed). Last output: {tail}")
        try:
            if path.stat().st_size > 4 * MAX_REPORT_BYTES:
                raise ValueError(f"{path.stat().st_size:,} bytes")
            report = json.loads(path.read_text())
            labs = check_report(report)
            bound_report(report, self.report_dir)
        except FileNotFoundError:
            return Result(CRASHED, f"the grader wrote no report; no score is given (fail "
                                   f"closed). Last output: {tail}")
        except (ValueError, KeyError, TypeError) as exc:
            return Result(CRASHED, f"the report is not valid ({exc}); no score is given (fail "
                                   f"closed)")
        return Result(OK, "", labs)


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the process that started it dies (Linux
    ``PR_SET_PDEATHSIG``), so that a grading process does not outlive a killed worker."""
    try:
        import ctypes
        import signal as _signal
        ctypes.CDLL(None, use_errno=True).prctl(1, int(_signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def bound_report(report: dict, folder: Path) -> None:
    """Keep a lab's report within bounds: each test's text cut to ``MAX_OUTPUT`` characters
    (score.json rewritten if any was cut), and the folder's other files (failure traces, the
    log) removed, largest first, until it holds at most ``MAX_REPORT_BYTES``."""
    cut = False
    for t in report.get("tests", []):
        text = t.get("output")
        if isinstance(text, str) and len(text) > MAX_OUTPUT:
            t["output"] = (f"{text[:MAX_OUTPUT]}\n... ({len(text) - MAX_OUTPUT:,} more "
                           f"characters cut)")
            cut = True
    if cut:
        (folder / "score.json").write_text(json.dumps(report, indent=2) + "\n")
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    total = sum(p.stat().st_size for p in files)
    for p in sorted(files, key=lambda p: p.stat().st_size, reverse=True):
        if total <= MAX_REPORT_BYTES:
            break
        if p.name == "score.json":
            continue
        total -= p.stat().st_size
        p.unlink()
    if total > MAX_REPORT_BYTES:
        raise ValueError("its report is larger than the limit")


def check_report(report: dict) -> dict[str, tuple[float, float]]:
    """Per-lab (score, max) from a score.json, after checking it adds up."""
    if not isinstance(report, dict) or not isinstance(report.get("tests"), list):
        raise ValueError("no list of tests")
    labs = report["extra_data"]["labs"]
    tests = report["tests"]
    total = sum(float(t["score"]) for t in tests)
    if abs(total - float(report["score"])) > 1e-6:
        raise ValueError(f"the tests add up to {total}, the report says {report['score']}")
    for t in tests:
        if not 0 <= float(t["score"]) <= float(t["max_score"]):
            raise ValueError(f"test {t.get('name')!r} has {t['score']} of {t['max_score']}")
    out = {str(p): (float(v["score"]), float(v["max_score"])) for p, v in labs.items()}
    if abs(sum(s for s, _ in out.values()) - total) > 1e-6:
        raise ValueError("the per-lab scores do not add up")
    return out


def log_tail(path: Path, chars: int = 600) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - chars))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return "(none)"
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())[-chars:]


def fail_closed_report(result: Result, impl: str) -> dict:
    """The Gradescope-format report of a submission that has no trustworthy score."""
    return {"score": 0.0, "max_score": result.max_total or 0.0,
            "execution_time": result.duration,
            "output": f"Not graded ({result.status}): {result.reason}",
            "visibility": "visible", "tests": [],
            "extra_data": {"status": result.status, "reason": result.reason, "impl": impl,
                           "labs": {p: {"score": 0.0, "max_score": m}
                                    for p, (_, m) in result.labs.items()}}}


SEVERITY = {OK: 0, TIMEOUT: 1, CRASHED: 2, INVALID: 3}


def merge(parts: dict[str, Result], reports: dict[str, dict | None], impl: str,
          maxima: dict[str, float] | None = None) -> tuple[Result, dict]:
    """One result and one Gradescope report for a submission, from its per-lab results: the
    labs graded ok keep their tests and points; a lab that timed out or crashed is one failed
    line worth 0 (its points counted in max_score when ``maxima`` knows them)."""
    from labkit.grading.labs import BY_NAME

    maxima = maxima or {}
    status = max((r.status for r in parts.values()), key=SEVERITY.__getitem__, default=OK)
    reasons, labs, tests = [], {}, []
    for package, r in parts.items():
        lab = BY_NAME.get(package)
        title = f"Lab {lab.number}: {lab.title}" if lab else package
        if r.status == OK and reports.get(package):
            labs.update(r.labs)
            tests += reports[package]["tests"]
            continue
        top = maxima.get(package, 0.0)
        labs[package] = (0.0, top)
        reasons.append(f"{lab.short if lab else package}: {r.reason}")
        tests.append({"name": f"{title}: not graded ({r.status})", "number":
                      f"{lab.number if lab else 9}.0", "score": 0.0, "max_score": top,
                      "status": "failed", "output": r.reason, "tags": [lab.short if lab else
                                                                        package],
                      "visibility": "visible"})
    result = Result(status, "; ".join(reasons), labs, round(sum(r.duration for r in
                                                                parts.values()), 1))
    summary = "; ".join(f"{p}: {s:g}/{m:g}" for p, (s, m) in labs.items())
    report = {"score": result.total, "max_score": result.max_total,
              "execution_time": result.duration, "visibility": "visible",
              "output": f"Graded {impl} in the sandbox ({status}). {summary}"
                        + (f"\nNot graded: {result.reason}" if result.reason else ""),
              "tests": tests,
              "extra_data": {"status": status, "reason": result.reason, "impl": impl,
                             "labs": {p: {"score": sc, "max_score": m}
                                      for p, (sc, m) in labs.items()}}}
    return result, report


def grade_submission(impl: Path, report_dir: Path, limits: Limits, *, root: Path = REPO,
                     labs: list[str] | None = None) -> tuple[Result, dict]:
    """Grade every lab of ``impl``, one after the other (what the Gradescope runner does)."""
    parts, reports = {}, {}
    for package in graded_labs(root, labs):
        job = Job(impl, report_dir / package, limits, root=root, labs=[package])
        job.start()
        parts[package] = job.wait()
        reports[package] = read_report(report_dir / package)
    return merge(parts, reports, str(impl))


def read_report(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "score.json").read_text())
    except (OSError, ValueError):
        return None
