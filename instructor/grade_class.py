"""``nox -s grade_class -- SUBMISSIONS [--jobs N] [--resume]``: grade a whole class.

Every folder and zip in SUBMISSIONS is one submission (see ``submissions``). Each lab of each
submission is graded by its own grading process (``jobs.Job``: student code sandboxed, a time
and a memory limit), N at a time, with a progress bar. The result, in ``--out`` (default
``reports/class``):

* ``gradebook.csv``: one row per submission: its score per lab, total, max_total, status
  (ok; timeout or crashed when a lab could not be graded, which then scores 0 while the other
  labs keep their points; invalid when there is nothing to grade), duration in seconds, and the
  reason when it is not ok;
* ``reports/<submission>/score.json`` (Gradescope format) and ``score.md``: the whole
  submission; ``reports/<submission>/<lab>/``: the grader's own report of that lab, its
  failure traces and the grading log.

The gradebook is rewritten after every submission, so an interrupted batch keeps what it had;
``--resume`` then regrades only the submissions that are missing, not ok, or changed since.

``--scheduler ADDRESS`` runs the jobs on a Dask cluster instead (``cluster.DaskPool``; ``local``
or ``local:N`` for a LocalCluster here): same jobs, same limits, same gradebook; a job lost with
its worker is retried once, then ``crashed`` with the reason. See docs/instructors.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from labkit.grading.labs import LABS, REPO
from labkit.errors import GraderBug
from labkit.sandbox import probe_layers, row_warning, weak_spots
from .cluster import ClusterError, DaskPool, LocalPool
from .jobs import (CRASHED, INVALID, OK, Limits, Result, fail_closed_report, graded_labs, merge,
                   read_report)
from .progress import Progress
from .submissions import InvalidSubmission, Submission, fingerprint, list_submissions, prepare

STATE = "state.json"


@dataclass
class Row:
    submission: str
    result: Result
    fingerprint: str = ""


def columns(labs: list[str]) -> list[str]:
    return ["submission", *labs, "total", "max_total", "status", "duration_s", "reason"]


def write_gradebook(out: Path, rows: dict[str, Row], labs: list[str]) -> Path:
    """``gradebook.csv`` (lab columns by short name), written atomically."""
    maxima = _maxima(rows.values())
    path = out / "gradebook.csv"
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8", errors="backslashreplace") as f:
        w = csv.writer(f)
        w.writerow(columns([_short(p) for p in labs]))
        for name in sorted(rows):
            r = rows[name].result
            scores = [_num(r.labs.get(p, (0.0, 0.0))[0]) for p in labs]
            max_total = sum(maxima.get(p, 0.0) for p in labs)
            w.writerow([name, *scores, _num(r.total), _num(max_total),
                        r.status, f"{r.duration:.1f}", r.reason.replace("\n", " ")[:500]])
    os.replace(tmp, path)
    state = {name: {"fingerprint": row.fingerprint, "status": row.result.status,
                    "labs": {p: list(v) for p, v in row.result.labs.items()},
                    "duration": row.result.duration, "reason": row.result.reason}
             for name, row in rows.items()}
    (out / STATE).write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    return path


def load_state(out: Path) -> dict[str, Row]:
    try:
        state = json.loads((out / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    rows = {}
    for name, s in state.items():
        result = Result(s["status"], s.get("reason", ""),
                        {p: (float(v[0]), float(v[1])) for p, v in s.get("labs", {}).items()},
                        float(s.get("duration", 0.0)))
        rows[name] = Row(name, result, s.get("fingerprint", ""))
    return rows


def _short(package: str) -> str:
    return next((lab.short for lab in LABS if lab.package == package), package)


def _num(x: float) -> str:
    return f"{x:g}"


def _maxima(rows) -> dict[str, float]:
    """Each lab's maximum score, as the reports that were written say."""
    maxima: dict[str, float] = {}
    for row in rows:
        for package, (_, m) in row.result.labs.items():
            maxima[package] = max(maxima.get(package, 0.0), m)
    return maxima


@dataclass(eq=False)
class _Pending:
    """A submission whose labs are being graded."""

    sub: Submission
    fingerprint: str
    impl: Path
    labs: list[str]
    parts: dict[str, Result] = field(default_factory=dict)


def grade_class(folder: Path, out: Path, *, jobs: int, resume: bool, limits: Limits,
                labs: list[str] | None = None, root: Path = REPO,
                progress: Progress | None = None, executor=None) -> dict[str, Row]:
    """Grade every submission of ``folder`` into ``out`` (see the module docstring). The jobs
    run on ``executor`` (``cluster.DaskPool``, which the caller closes) or, by default, on a
    local pool of ``jobs`` processes."""
    subs, ignored = list_submissions(folder)
    out.mkdir(parents=True, exist_ok=True)
    work, reports = out / "work", out / "reports"
    packages = graded_labs(root, labs)
    rows = load_state(out) if resume else {}
    rows = {n: r for n, r in rows.items() if any(s.name == n for s in subs)}
    todo: list[tuple[Submission, str]] = []
    for sub in subs:
        fp = fingerprint(sub.path)
        kept = rows.get(sub.name)
        if kept is not None and kept.result.status == OK and kept.fingerprint == fp \
                and (reports / sub.name / "score.json").is_file():
            continue
        todo.append((sub, fp))
    progress = progress or Progress(len(todo), stream=sys.stderr)
    progress.total = len(todo)
    if ignored:
        progress.note(f"ignored (neither a folder nor a zip): {', '.join(ignored)}")
    layers = probe_layers() if todo else []   # GraderBug: it would stay root, or lack a layer
    warning = row_warning(layers)    # --allow-root, a layer turned off: said in every row
    if layers:
        progress.note(f"sandbox: {', '.join(layers)}")
        if weak_spots(layers):
            progress.note(weak_spots(layers))
    if resume and len(todo) < len(subs):
        progress.note(f"--resume: keeping {len(subs) - len(todo)} graded submissions")

    def finish(name: str, row: Row, report: dict) -> None:
        if warning:
            row.result.reason = "; ".join(x for x in (row.result.reason, warning) if x)
        rows[name] = row
        try:
            write_submission_report(reports / name, row, report, packages)
        except (OSError, ValueError, TypeError, OverflowError, RecursionError) as exc:
            # One submission's report cannot be written: that row loses its status, the
            # batch goes on.
            row.result = Result(CRASHED, f"its report could not be written "
                                         f"({type(exc).__name__}: {str(exc)[:200]}); no score "
                                         f"is given (fail closed)",
                                {p: (0.0, m) for p, (_, m) in row.result.labs.items()},
                                row.result.duration)
        progress.done(name, row.result.status)
        write_gradebook(out, rows, packages)

    queue: list[tuple[_Pending, str]] = []
    for sub, fp in todo:
        shutil.rmtree(reports / sub.name, ignore_errors=True)
        try:
            impl = prepare(sub, work)
        except (InvalidSubmission, OSError) as exc:
            result = Result(INVALID, str(exc))
            finish(sub.name, Row(sub.name, result, fp), fail_closed_report(result, sub.name))
            continue
        pending = _Pending(sub, fp, impl, packages)
        queue += [(pending, package) for package in packages]
    pool = executor or LocalPool(jobs, limits, root)
    for note in getattr(pool, "notes", lambda: [])():
        progress.note(note)

    def running_names() -> list[str]:
        return [f"{p.sub.name}:{_short(k)}" for p, k in pool.active()]

    try:
        while queue or pool.busy():
            while queue and pool.has_room():
                pending, package = queue.pop(0)
                pool.submit((pending, package), pending.impl,
                            reports / pending.sub.name / package, package)
                progress.running(running_names())
            for (pending, package), result in pool.finished(0.1):
                pending.parts[package] = result
                progress.running(running_names())
                if len(pending.parts) == len(pending.labs):
                    name = pending.sub.name
                    parts_reports = {k: read_report(reports / name / k) for k in pending.parts}
                    result, report = merge(pending.parts, parts_reports, name,
                                           _maxima(rows.values()))
                    finish(name, Row(name, result, pending.fingerprint), report)
    except BaseException:
        pool.close(kill=True)
        progress.close()
        raise
    finally:
        if executor is None:
            pool.close()
        shutil.rmtree(work, ignore_errors=True)
    write_gradebook(out, rows, packages)
    progress.close()
    return rows


def write_submission_report(folder: Path, row: Row, report: dict, packages: list[str]) -> None:
    """The submission's own score.json and score.md, written by this (trusted) process."""
    folder.mkdir(parents=True, exist_ok=True)
    result = row.result
    (folder / "score.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    lines = [f"# Score report: {row.submission}", "",
             f"Status: {result.status}" + (f" ({result.reason})" if result.reason else ""), ""]
    for package in packages:
        score, top = result.labs.get(package, (0.0, 0.0))
        details = f" (details: {package}/score.md)" if (folder / package / "score.md").is_file() \
            else ""
        lines.append(f"- {_short(package)}: {score:g} / {top:g}{details}")
    lines += ["", f"**Total: {report['score']:g} / {report['max_score']:g}**", ""]
    (folder / "score.md").write_text("\n".join(lines), encoding="utf-8",
                                     errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s grade_class --",
                                     description="Grade every submission in a folder.")
    parser.add_argument("submissions", type=Path, help="a folder of submission folders and zips")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2,
                        help="submissions graded at once (default: one per CPU)")
    parser.add_argument("--scheduler", default="", metavar="ADDRESS",
                        help="grade on a Dask cluster: the scheduler's address (tcp://HOST:8786"
                             "), or local[:N] for a LocalCluster of N worker processes here; "
                             "--jobs is then the cluster's business (one job per worker thread)")
    parser.add_argument("--scheduler-timeout", type=float, default=15.0, metavar="S",
                        help="seconds to wait for the scheduler to answer (default %(default)g)")
    parser.add_argument("--resume", action="store_true",
                        help="regrade only what is missing, not ok, or changed")
    parser.add_argument("--out", type=Path, default=Path("reports/class"),
                        help="where gradebook.csv and the reports go (default reports/class)")
    parser.add_argument("--labs", default="", help="only these labs, e.g. lab1,lab2")
    parser.add_argument("--time-limit", type=float, default=Limits.time_s,
                        help="seconds per lab of a submission (default %(default)g)")
    parser.add_argument("--memory-mb", type=int, default=Limits.memory_mb,
                        help="memory of each grading process (default %(default)d)")
    parser.add_argument("--test-timeout", type=float, default=Limits.test_timeout,
                        help="seconds per test (default %(default)g)")
    parser.add_argument("--call-timeout", type=float, default=Limits.call_timeout,
                        help="seconds one call into student code may take (default "
                             "%(default)g): a handler that loops fails its test this fast")
    parser.add_argument("--allow-root", action="store_true",
                        help="grade even if the sandboxed child cannot stop being root (every "
                             "row then carries a warning); by default grading refuses")
    parser.add_argument("--live", action="store_true",
                        help="also run the live tests (real processes and ports; their node "
                             "processes run student code outside the sandbox's confinement)")
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    limits = Limits(time_s=args.time_limit, memory_mb=args.memory_mb,
                    test_timeout=args.test_timeout, call_timeout=args.call_timeout,
                    live=args.live)
    labs = [x.strip() for x in args.labs.split(",") if x.strip()] or None
    if args.allow_root:
        os.environ["LABKIT_SANDBOX_ALLOW_ROOT"] = "1"
    signal.signal(signal.SIGTERM, _terminate)      # stop the running jobs, keep the gradebook
    started = time.monotonic()
    pool = None
    try:
        if args.scheduler:
            pool = DaskPool(args.scheduler, limits, REPO,
                            connect_timeout=args.scheduler_timeout)
        rows = grade_class(args.submissions, args.out, jobs=max(1, args.jobs),
                           resume=args.resume, limits=limits, labs=labs, executor=pool)
    except (GraderBug, ClusterError) as exc:
        print(f"grade_class: {exc}", file=sys.stderr)
        return 2
    finally:
        if pool is not None:
            pool.close()
    counts: dict[str, int] = {}
    for row in rows.values():
        counts[row.result.status] = counts.get(row.result.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"{len(rows)} submissions ({summary}) in {time.monotonic() - started:.0f} s. "
          f"Gradebook: {args.out / 'gradebook.csv'}; reports: {args.out / 'reports'}/")
    return 0


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}; --resume continues where this left off")


if __name__ == "__main__":
    raise SystemExit(main())
