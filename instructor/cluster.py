"""Where ``grade_class`` runs its grading jobs: a local process pool (the default) or a Dask
distributed cluster (``--scheduler ADDRESS``).

Both take (submission, lab) jobs and hand back ``jobs.Result``s; ``grade_class`` does the rest
(gradebook, reports, ``--resume``) the same way whichever runs them.

* ``LocalPool(jobs, limits, root)``: ``jobs.Job`` processes on this machine, N at a time.
* ``DaskPool(address, limits, root)``: each job is one Dask task. The task gets the grader
  bundle (``labkit/``, ``graders/``, ``pyproject.toml`` and ``instructor/jobs.py``: no
  ``reference/``; sent once to every worker) and the submission's lab packages as a zip, unpacks
  both in a private folder on the worker and runs the same ``jobs.Job`` there
  (``instructor.remote_job``): student code in the sandbox, the same time and memory limits;
  the lab's report folder comes back as a zip and is unpacked into the local report folder.
  A worker needs the graders' Python dependencies (``pip install -e '.[instructor]'`` in a copy of
  this repository, or the same packages), and nothing of the course's code.

  A job lost with its worker (the worker process died or its machine went away) is retried
  once, then is ``crashed`` with the reason; a job is never counted twice, because only the
  result of the task the client is waiting for is read. "Retried once" is the scheduler's and
  ours together: the scheduler reruns a task whose worker died up to
  ``distributed.scheduler.allowed-failures`` times (default 3) before it reports
  ``KilledWorker``; we add retries up to one in all (none if the scheduler already retries).
  The LocalCluster of ``--scheduler local`` sets it to 0, so the retry is ours.

``--scheduler local[:N]`` starts a LocalCluster of N worker processes (default 2) on this
machine: a way to try the cluster path, and what the tests use.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import shutil
import sys
import time
import zipfile
from dataclasses import asdict
from pathlib import Path, PurePosixPath
from typing import Any, Hashable

from .jobs import CRASHED, FORWARDED_ENV, Job, Limits, Result

BUNDLE_DIRS = ("labkit", "graders")
BUNDLE_FILES = ("pyproject.toml", "instructor/__init__.py", "instructor/jobs.py",
                "instructor/remote_job.py")
SKIP = {"__pycache__", ".pytest_cache", ".hypothesis"}
CONNECT_TIMEOUT = 15.0
RETRIES = 1                  # a job lost with its worker runs at most this many more times


class ClusterError(Exception):
    """The cluster cannot be used; the message says what to do."""


class LocalPool:
    """``jobs.Job`` processes on this machine, ``jobs`` at a time."""

    def __init__(self, jobs: int, limits: Limits, root: Path):
        self.jobs, self.limits, self.root = max(1, jobs), limits, root
        self.running: dict[Hashable, Job] = {}

    def has_room(self) -> bool:
        return len(self.running) < self.jobs

    def submit(self, key: Hashable, impl: Path, report_dir: Path, package: str) -> None:
        # Each running job its own CPU while there are enough (a job's grader and its sandbox
        # share one: labkit.sandbox.process.share_one_cpu): the lowest slot no job holds.
        taken = {job.cpu for job in self.running.values()}
        slot = next(i for i in range(len(taken) + 1) if i not in taken)
        job = Job(impl, report_dir, self.limits, root=self.root, labs=[package], cpu=slot)
        job.start()
        self.running[key] = job

    def busy(self) -> bool:
        return bool(self.running)

    def active(self) -> list[Hashable]:
        return list(self.running)

    def finished(self, wait: float = 0.1) -> list[tuple[Hashable, Result]]:
        time.sleep(wait)
        done = [(k, job.result) for k, job in list(self.running.items()) if job.done()]
        for key, _ in done:
            del self.running[key]
        return done

    def close(self, kill: bool = False) -> None:
        if kill:
            for job in self.running.values():
                job.kill()
        self.running.clear()


# ----- the Dask cluster ----------------------------------------------------------------------------

def bundle(root: Path) -> bytes:
    """The grader bundle of ``root`` as zip bytes (deterministic: same code, same bytes)."""
    files: list[Path] = []
    for folder in BUNDLE_DIRS:
        for path in sorted((root / folder).rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and not path.is_symlink() and not SKIP.intersection(rel.parts) \
                    and path.suffix != ".pyc":
                files.append(rel)
    files += [Path(f) for f in BUNDLE_FILES if (root / f).is_file()
              or (Path(__file__).parents[1] / f).is_file()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in files:
            src = root / rel if (root / rel).is_file() else Path(__file__).parents[1] / rel
            info = zipfile.ZipInfo(rel.as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, src.read_bytes())
    return buf.getvalue()


def zip_folder(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                z.write(path, path.relative_to(folder).as_posix())
    return buf.getvalue()


def unzip_into(data: bytes, dest: Path) -> None:
    """Unpack our own zip (a report folder, a submission) into ``dest``; names that would land
    outside it are refused."""
    dest.mkdir(parents=True, exist_ok=True)
    top = dest.resolve()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for info in z.infolist():
            name = PurePosixPath(info.filename)
            target = (dest / name).resolve()
            if name.is_absolute() or ".." in name.parts or top not in target.parents:
                raise ValueError(f"unsafe name in a zip: {info.filename!r}")
            if info.is_dir():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(info))


def grade_on_worker(code: bytes, code_hash: str, impl_zip: bytes, package: str,
                    limits: dict, settings: dict | None = None) -> dict:
    """The Dask task: grade one lab of one submission on this worker (see the module
    docstring). Returns the ``Result`` fields, the report folder as a zip and the worker."""
    import socket
    import subprocess
    import tempfile

    base = Path(tempfile.gettempdir())
    root = base / f"labkit-grader-{code_hash[:20]}"
    _sweep(base, keep=root)
    if not (root / "pyproject.toml").is_file():
        staging = Path(tempfile.mkdtemp(prefix="labkit-grader-", dir=base))
        unzip_into(code, staging)
        try:
            os.rename(staging, root)
        except OSError:                   # another task of this worker got there first
            shutil.rmtree(staging, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="labkit-task-", dir=base))
    try:
        os.chmod(work, 0o755)
        impl, report = work / "impl", work / "report"
        unzip_into(impl_zip, impl)
        spec = {"impl": str(impl), "report_dir": str(report), "package": package,
                "limits": limits, "root": str(root), "result": str(work / "result.json")}
        (work / "spec.json").write_text(json.dumps(spec))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_",))}
        env = {k: v for k, v in env.items() if not k.startswith("LABKIT_SANDBOX")}
        env.update(settings or {})                 # grade_class's sandbox settings
        env["PYTHONPATH"] = str(root)
        proc = subprocess.run([sys.executable, "-m", "instructor.remote_job",
                               str(work / "spec.json")], cwd=work, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True,
                              preexec_fn=_die_with_parent)
        try:
            result = json.loads((work / "result.json").read_text())
        except (OSError, ValueError):
            tail = (proc.stdout + proc.stderr).decode("utf-8", "replace")[-600:]
            result = {"status": "crashed", "labs": {}, "duration": 0.0,
                      "reason": f"the job on the worker exited with {proc.returncode} and no "
                                f"result; no score is given (fail closed). Last output: {tail}"}
        report_zip = zip_folder(report) if report.is_dir() else b""
        return {"result": result, "report": report_zip, "worker": socket.gethostname()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _sweep(base: Path, keep: Path, age_s: float = 86400.0) -> None:
    """Remove what tasks of this worker left a day or more ago: grader bundles of older runs,
    and the folders of tasks whose worker was killed (their cleanup never ran)."""
    now = time.time()
    for path in list(base.glob("labkit-grader-*")) + list(base.glob("labkit-task-*")):
        try:
            if path != keep and now - path.stat().st_mtime > age_s:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass
    try:
        os.utime(keep)                             # in use: not swept
    except OSError:
        pass


def _die_with_parent() -> None:
    try:
        import ctypes
        import signal
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise ClusterError("--scheduler needs Dask's distributed scheduler, which is not "
                           "installed here: pip install 'dask[distributed]' (or "
                           "pip install -e '.[instructor]' in this repository)") from None
    return distributed


def local_cluster(workers: int = 2):
    """A LocalCluster of ``workers`` single-threaded worker processes, with no scheduler-side
    retry (``allowed-failures`` 0: the one retry of a lost job is ours)."""
    distributed = _import_distributed()
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        return distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                        processes=True, dashboard_address=":0",
                                        silence_logs=40)


class DaskPool:
    """Grading jobs as tasks of a Dask cluster (see the module docstring)."""

    def __init__(self, address: Any, limits: Limits, root: Path, *,
                 connect_timeout: float = CONNECT_TIMEOUT):
        distributed = _import_distributed()
        import cloudpickle

        # The task's code travels with it: a worker needs no copy of this repository.
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
        self.distributed = distributed
        self.limits, self.root = limits, root
        self.cluster = None
        if isinstance(address, str) and (address == "local" or address.startswith("local:")):
            n = address.partition(":")[2]
            if n and not n.isdigit():
                raise ClusterError(f"--scheduler {address}: expected local or local:N (N "
                                   "worker processes)")
            self.cluster = local_cluster(int(n or 2))
            address = self.cluster
        self.address = getattr(address, "scheduler_address", address)
        try:
            self.client = distributed.Client(address, timeout=connect_timeout,
                                             set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            if self.cluster is not None:
                self.cluster.close()
            raise ClusterError(
                f"cannot reach the Dask scheduler at {self.address!r} "
                f"({type(exc).__name__}: {str(exc)[:200]}). Start one with `dask scheduler` "
                f"(it prints its address, tcp://HOST:8786) and workers with `dask worker "
                f"tcp://HOST:8786`, then pass that address; or use --scheduler local to try "
                f"a cluster on this machine, or leave out --scheduler for the local pool"
            ) from None
        try:
            scheduler_retries = int(self.client.run_on_scheduler(_allowed_failures))
        except Exception:                              # an old or locked-down scheduler
            scheduler_retries = 3
        self.scheduler_retries = scheduler_retries
        self.retries = max(0, RETRIES - scheduler_retries)
        # The bundle goes with every task (a few hundred KB, unpacked once per worker): data
        # scattered to the workers would be lost with them, and a retry could not run.
        self.code = bundle(root)
        self.code_hash = hashlib.sha256(self.code).hexdigest()
        self._threads, self._threads_at = 1, 0.0
        self.futures: dict[Hashable, Any] = {}
        self.tries: dict[Hashable, int] = {}
        self.args: dict[Hashable, tuple[bytes, str, Path]] = {}
        self.workers_seen: dict[Hashable, str] = {}

    def notes(self) -> list[str]:
        workers = self.client.scheduler_info().get("workers", {})
        out = [f"Dask scheduler {self.address}: {len(workers)} worker(s) now"]
        if not workers:
            out.append("no worker has joined yet: jobs wait until one does (start workers "
                       f"with `dask worker {self.address}`)")
        if self.scheduler_retries > RETRIES:
            out.append(f"the scheduler reruns a job whose worker died up to "
                       f"{self.scheduler_retries} times (distributed.scheduler.allowed-failures)"
                       f" before it counts as crashed; start it with "
                       f"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=0 for one retry")
        return out

    def has_room(self) -> bool:
        """As many jobs in flight as the cluster has worker threads (the rest wait here): a
        job is given to a worker when it can start, so a worker that dies takes with it only
        the jobs it was running, and only those use up their retry."""
        now = time.monotonic()
        if now - self._threads_at > 5.0:
            try:
                workers = self.client.scheduler_info().get("workers", {}).values()
                self._threads = sum(int(w.get("nthreads", 1)) for w in workers)
            except Exception:                          # noqa: BLE001 - keep the last count
                pass
            self._threads_at = now
        return len(self.futures) < max(1, self._threads)

    def submit(self, key: Hashable, impl: Path, report_dir: Path, package: str) -> None:
        self.args[key] = (zip_folder(impl), package, report_dir)
        self.tries[key] = 0
        self._send(key)

    def _send(self, key: Hashable) -> None:
        impl_zip, package, report_dir = self.args[key]
        self.tries[key] += 1
        label = re.sub(r"[^\w.-]", "_", report_dir.parent.name)[:40]
        self.futures[key] = self.client.submit(
            grade_on_worker, self.code, self.code_hash, impl_zip, package,
            asdict(self.limits), {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ},
            pure=False, retries=0,
            key=f"grade-{label}-{package}-try{self.tries[key]}-{secrets.token_hex(4)}")

    def busy(self) -> bool:
        return bool(self.futures)

    def active(self) -> list[Hashable]:
        return list(self.futures)

    def finished(self, wait: float = 0.1) -> list[tuple[Hashable, Result]]:
        time.sleep(wait)
        out = []
        for key, fut in list(self.futures.items()):
            if not fut.done():
                continue
            del self.futures[key]
            result = self._collect(key, fut)
            if result is None:
                self._send(key)                        # lost with its worker: once more
                continue
            out.append((key, result))
        return out

    def _collect(self, key: Hashable, fut) -> Result | None:
        _, _, report_dir = self.args[key]
        tries = self.tries[key]
        try:
            value = fut.result()
        except self.distributed.KilledWorker as exc:
            if tries <= self.retries:
                return None
            lost = tries * (self.scheduler_retries + 1)
            return Result(CRASHED, f"the Dask worker grading it died {lost} time(s) "
                                   f"(last: {_worker(exc)}); no score is given (fail closed)")
        except Exception as exc:                       # noqa: BLE001 - any failure of the task
            if _lost(exc) and tries <= self.retries:
                return None
            return Result(CRASHED, f"the Dask task failed ({type(exc).__name__}: "
                                   f"{str(exc)[:300]}); no score is given (fail closed)")
        finally:
            fut.release()
        shutil.rmtree(report_dir, ignore_errors=True)
        try:
            if value["report"]:
                unzip_into(value["report"], report_dir)
            else:
                report_dir.mkdir(parents=True, exist_ok=True)
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            return Result(CRASHED, f"the report from the worker could not be unpacked ({exc}); "
                                   f"no score is given (fail closed)")
        r = value["result"]
        self.workers_seen[key] = value.get("worker", "")
        return Result(r["status"], r.get("reason", ""),
                      {p: (float(v[0]), float(v[1])) for p, v in r.get("labs", {}).items()},
                      float(r.get("duration", 0.0)))

    def close(self, kill: bool = False) -> None:
        if kill:
            for fut in self.futures.values():
                fut.cancel()
        self.futures.clear()
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def _allowed_failures(dask_scheduler=None) -> int:
    return dask_scheduler.allowed_failures


def _worker(exc: Exception) -> str:
    try:
        return str(exc.last_worker.address)
    except AttributeError:
        return "unknown worker"


def _lost(exc: Exception) -> bool:
    """A failure that means the task's worker went away rather than the task failing."""
    name = type(exc).__name__
    return name in ("CancelledError", "FutureCancelledError", "CommClosedError")
