"""``grade_class --scheduler``: grading on a Dask cluster (instructor.cluster.DaskPool), on a
LocalCluster of two worker processes. The gradebook equals the local pool's (same rows, same
scores), also when a worker is killed in the middle of a job (the job is retried once); a job
whose worker dies twice is ``crashed`` with the reason, and no row is lost or doubled.

Lab 0 only (the fastest lab); a few submissions of the sample class.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from instructor import cluster, grade_class as gc, sample_class  # noqa: E402
from instructor.jobs import Limits  # noqa: E402
from instructor.progress import Progress  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LIMITS = Limits(time_s=600, test_timeout=300, call_timeout=3)


def small_class(folder: Path, *, loop: bool = False) -> Path:
    folder.mkdir()
    sample_class.copy_labs(REPO / "reference", folder / "reference")
    sample_class.copy_labs(REPO / "starter", folder / "starter")
    sample_class.vendored_variant(REPO / "tests/buggy/lab0_resilience/retry_no_jitter",
                                  folder / "buggy-jitter")
    if loop:                                        # every handler loops: a long job
        payload = folder.parent / "_loop_payload.py"
        payload.write_text(sample_class.LOOP_PAYLOAD)
        sample_class.hostile(payload, folder / "infinite-loop")
    return folder


def gradebook(out: Path) -> list[dict]:
    with open(out / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return rows


def scores(rows: list[dict]) -> list[tuple]:
    return [(r["submission"], r["lab0"], r["total"], r["max_total"], r["status"]) for r in rows]


def quiet() -> Progress:
    return Progress(0, stream=open(os.devnull, "w"))


def kill_worker_running(client, pool: cluster.DaskPool, label: str, times: int,
                        log: list[str], timeout: float = 600) -> None:
    """SIGKILL the worker process that runs the job of submission ``label``, ``times`` times
    (each time on the job's next try), while ``grade_class`` runs in another thread."""
    deadline = time.monotonic() + timeout
    for attempt in range(1, times + 1):
        while time.monotonic() < deadline:
            executing = client.run(        # what each worker runs now (not merely holds)
                lambda dask_worker: [str(ts.key) for ts in dask_worker.state.executing],
                on_error="return")             # a worker just killed answers with an error
            hits = [(w, k) for w, keys in executing.items() if isinstance(keys, list)
                    for k in keys if k.startswith(f"grade-{label}-") and f"-try{attempt}-" in k]
            if hits:
                worker, key = hits[0]
                time.sleep(2.0)                   # well inside the job: it is grading
                pid = client.run(os.getpid, workers=[worker])[worker]
                os.kill(pid, signal.SIGKILL)
                log.append(f"killed {worker} (pid {pid}) running {key}")
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the job of {label} (try {attempt}) never ran; {log}")


@pytest.fixture(autouse=True)
def workers_tmp(monkeypatch):
    """The LocalCluster's workers (new processes) keep their scratch folders in a folder of
    their own, removed afterwards with what a killed worker left. World-readable, like /tmp:
    the sandboxed child runs as another user and reads its staging copy there."""
    folder = tempfile.mkdtemp(prefix="labkit-dask-test-")
    os.chmod(folder, 0o755)
    monkeypatch.setenv("TMPDIR", folder)
    yield
    shutil.rmtree(folder, ignore_errors=True)


def run_with_kills(subs: Path, out: Path, label: str, times: int) -> tuple[dict, list[str]]:
    local = cluster.local_cluster(2)
    pool = cluster.DaskPool(local, LIMITS, REPO)
    watcher = distributed.Client(local, set_as_default=False)
    log: list[str] = []
    done: dict = {}

    def grade() -> None:
        try:
            done["rows"] = gc.grade_class(subs, out, jobs=2, resume=False, limits=LIMITS,
                                          labs=["lab0"], progress=quiet(), executor=pool)
        except BaseException as exc:              # noqa: BLE001 - reported below
            done["error"] = exc

    thread = threading.Thread(target=grade)
    thread.start()
    try:
        kill_worker_running(watcher, pool, label, times, log)
    finally:
        thread.join(timeout=1200)
        watcher.close()
        pool.close()
    assert "error" not in done, done.get("error")
    return done["rows"], log


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_dask_gradebook_equals_the_local_pool_with_a_worker_killed(tmp_path):
    subs = small_class(tmp_path / "class")
    gc.grade_class(subs, tmp_path / "pool", jobs=2, resume=False, limits=LIMITS,
                   labs=["lab0"], progress=quiet())
    pool_rows = gradebook(tmp_path / "pool")
    assert [r["status"] for r in pool_rows] == ["ok"] * 3
    assert {r["submission"]: r["lab0"] for r in pool_rows} == \
        {"buggy-jitter": "40", "reference": "50", "starter": "0"}

    rows, log = run_with_kills(subs, tmp_path / "dask", "reference", times=1)
    assert len(log) == 1, log
    dask_rows = gradebook(tmp_path / "dask")
    assert scores(dask_rows) == scores(pool_rows), log     # same rows, same scores, once each
    for name in ("reference", "starter", "buggy-jitter"):
        folder = tmp_path / "dask" / "reports" / name
        assert (folder / "score.json").is_file() and (folder / "lab0_resilience" /
                                                       "score.md").is_file()
    # --resume keeps every graded row and regrades nothing.
    again = gc.grade_class(subs, tmp_path / "dask", jobs=2, resume=True, limits=LIMITS,
                           labs=["lab0"], progress=quiet(),
                           executor=_no_jobs())
    assert sorted(again) == sorted(r["submission"] for r in dask_rows)
    assert scores(gradebook(tmp_path / "dask")) == scores(pool_rows)


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_a_job_whose_worker_dies_twice_is_crashed_and_no_row_is_lost(tmp_path):
    subs = tmp_path / "class"
    subs.mkdir()
    sample_class.copy_labs(REPO / "starter", subs / "starter")
    payload = tmp_path / "_loop_payload.py"
    payload.write_text(sample_class.LOOP_PAYLOAD)
    sample_class.hostile(payload, subs / "infinite-loop")
    rows, log = run_with_kills(subs, tmp_path / "dask", "infinite-loop", times=2)
    assert len(log) == 2, log
    book = {r["submission"]: r for r in gradebook(tmp_path / "dask")}
    assert sorted(book) == ["infinite-loop", "starter"]          # every row, once
    assert book["starter"]["status"] == "ok" and book["starter"]["lab0"] == "0"
    lost = book["infinite-loop"]
    assert lost["status"] == "crashed" and lost["lab0"] == "0"
    assert "Dask worker grading it died 2 time(s)" in lost["reason"], lost
    # --resume regrades the crashed row (and only it) and keeps the other.
    local = cluster.DaskPool("local:2", LIMITS, REPO)
    try:
        again = gc.grade_class(subs, tmp_path / "dask", jobs=2, resume=True, limits=LIMITS,
                               labs=["lab0"], progress=quiet(), executor=local)
    finally:
        local.close()
    assert again["infinite-loop"].result.status == "ok"
    assert again["infinite-loop"].result.total == 0
    assert sorted(r["submission"] for r in gradebook(tmp_path / "dask")) == \
        ["infinite-loop", "starter"]


def test_an_unreachable_scheduler_says_what_to_do():
    with pytest.raises(cluster.ClusterError) as info:
        cluster.DaskPool("tcp://127.0.0.1:9", LIMITS, REPO, connect_timeout=2)
    text = str(info.value)
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in text
    assert "dask scheduler" in text and "dask worker" in text and "--scheduler local" in text


def test_grade_class_cli_reports_an_unreachable_scheduler(tmp_path, capsys):
    (tmp_path / "subs").mkdir()
    code = gc.main([str(tmp_path / "subs"), "--out", str(tmp_path / "out"),
                    "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "2"])
    assert code == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


def test_the_grader_bundle_has_no_reference_and_is_deterministic():
    data = cluster.bundle(REPO)
    import io
    import zipfile
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "pyproject.toml" in names and "instructor/jobs.py" in names
    assert any(n.startswith("graders/lab0_resilience/") for n in names)
    assert not any(n.startswith(("reference/", "tests/", "starter/")) for n in names)
    assert not any("__pycache__" in n for n in names)
    assert cluster.bundle(REPO) == data


def test_progress_bar_only_on_a_terminal():
    import io

    log = io.StringIO()                                 # not a terminal: plain lines, no bar
    p = Progress(3, stream=log)
    p.running(["a:lab0", "b:lab0"])
    p.done("a", "ok")
    p.done("b", "timeout")
    p.close()
    text = log.getvalue()
    assert "\x1b" not in text and "\r" not in text
    assert [line.split("  (")[0] for line in text.splitlines()] == ["[1/3] a: ok",
                                                                    "[2/3] b: timeout"]

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    tty = Terminal()
    p = Progress(0, stream=tty)
    p.total = 3                                         # grade_class sets it once it knows
    p.note("sandbox: landlock")
    p.running(["c:lab2"])
    p.done("a", "ok")
    p.done("b", "crashed")
    assert p._bar is not None
    p.close()
    out = tty.getvalue()
    assert "\x1b[" in out and "━" in out               # rich drew a bar, in place
    assert "2/3" in out and "ok 1, not ok 1 (crashed 1)" in out and "sandbox: landlock" in out
    assert p.line().startswith("2/3  ok 1, not ok 1 (crashed 1)") and "left" in p.line()


class _no_jobs(cluster.LocalPool):
    """A pool that fails the test if it is given a job (``--resume`` with nothing to do)."""

    def __init__(self):
        super().__init__(1, LIMITS, REPO)

    def submit(self, *args):
        raise AssertionError(f"--resume regraded {args}")
