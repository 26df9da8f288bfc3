"""``nox -s replay -- <failure id> [--until T] [--node n2]``: run a failure again.

Runs exactly the recorded run again, with no new search: for a generated (Hypothesis) test, the
one failing example the record names (``hypothesis.reproduce_failure`` with the blob Hypothesis
gave for it, so the same schedule, seed and parameters); for a scripted test, the test itself
(same code and seed: the run is deterministic); for an exhaustive-search test
(``labkit.search``), its recorded shortest path of steps, rebuilt with no new search. Then it
checks that the run breaks the same property with the same trace digest, prints the events
leading to it, and rewrites ``reports/failures/<id>.html``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .strategies import REPLAY_ENV
from .trace import format_record


def load(report_dir: Path, fid: str) -> dict:
    path = report_dir / "failures" / f"{fid}.json"
    if not path.exists():
        known = sorted(p.stem for p in (report_dir / "failures").glob("*.json"))
        hint = ("known failures: " + ", ".join(known[:20])) if known else \
            "there are no recorded failures: run `nox -s grade` first"
        raise SystemExit(f"replay: no failure {fid!r} in {path.parent} ({hint})")
    return json.loads(path.read_text())


def rerun(record: dict, report_dir: Path) -> tuple[dict | None, str]:
    """Run the record's test again; returns the new record (None if it did not fail)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pytest", record["test"], "--impl", record["impl"],
               "--report-dir", tmp, "-q", "--no-header", "-p", "no:cacheprovider"]
        env = {**os.environ, "PYTHONHASHSEED": "0", "LABKIT_NO_RECHECK": "1"}
        env.pop(REPLAY_ENV, None)
        env.pop("LABKIT_SEARCH_PATH", None)
        search = (record.get("details") or {}).get("search")
        if search:   # a search's counterexample: the test rebuilds exactly that path
            env["LABKIT_SEARCH_PATH"] = json.dumps(search["steps"])
        spec = record.get("hypothesis")
        if spec and spec.get("blob"):
            env[REPLAY_ENV] = json.dumps({"key": spec["test"], "version": spec["version"],
                                          "blob": spec["blob"]})
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        new_path = Path(tmp) / "failures" / f"{record['id']}.json"
        if not new_path.exists():
            return None, proc.stdout[-4000:] + proc.stderr[-2000:]
        dest = report_dir / "failures"
        dest.mkdir(parents=True, exist_ok=True)
        for suffix in (".json", ".html"):
            shutil.copy(new_path.with_suffix(suffix), dest / f"{record['id']}{suffix}")
        return json.loads(new_path.read_text()), proc.stdout


def listing(record: dict, until: float | None, node: str | None, count: int) -> list[str]:
    stop = until if until is not None else record.get("time")
    recs = [r for r in record["trace"] if (stop is None or r[0] <= stop)
            and (node is None or r[2] == node or r[3] == node)]
    return [format_record(tuple(r)) for r in recs[-count:]]


FAULT_KINDS = ("fault", "crash", "restart", "pause", "resume")


def faults_in(record: dict) -> list[str]:
    """Every fault the trace shows, whoever applied it: the generated schedule, or a scripted
    test's own ``sim.partition(...)`` / ``sim.crash(...)`` (the trace viewer lists the same)."""
    return [f"t={r[0]:.3f}s {r[4] if r[1] == 'fault' else r[1] + ' ' + r[2]}"
            for r in record.get("trace", []) if r[1] in FAULT_KINDS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nox -s replay --", description=__doc__.splitlines()[0])
    parser.add_argument("id", help="the failure id printed in the score report")
    parser.add_argument("--until", type=float, help="list events up to this virtual time")
    parser.add_argument("--node", help="list only events at or from this node")
    parser.add_argument("--events", type=int, default=40, help="how many events to list")
    parser.add_argument("--report-dir", default="reports")
    args = parser.parse_args(argv)
    report_dir = Path(args.report_dir)
    old = load(report_dir, args.id)
    print(f"replaying {old['id']}: {old['name']}\n  test: {old['test']}\n  code: {old['impl']}\n"
          f"  seed: {old['seed']}")
    spec = old.get("hypothesis")
    if spec and spec.get("blob"):
        import hypothesis

        print(f"  the recorded example only (Hypothesis {spec['version']}, no new search)")
        if spec["version"] != hypothesis.__version__:
            print(f"\nThis failure was recorded with Hypothesis {spec['version']}, but "
                  f"{hypothesis.__version__} is installed: the recorded example cannot be run "
                  f"with it. Install the version the course pins (nox -s replay does).")
            return 1
    new, output = rerun(old, report_dir)
    if new is None:
        print("\nThe test did not fail this time with the same seed and schedule. If you changed "
              "your code since, that is good news; if not, the run is not deterministic.")
        print(output)
        return 1
    same = new["digest"] == old["digest"] and new["property"] == old["property"]
    print(f"  digest: {new['digest'][:16]} ({'same run, byte for byte' if same else 'DIFFERENT from the recorded ' + old['digest'][:16] + ': the code changed, or it is not deterministic'})")
    print(f"\n{new['property']} violated at t={new['time']:.3f}s\n  {new['evidence']}")
    print("\ngenerated fault schedule:\n  " + ("\n  ".join(new["schedule"]) or
                                               "(none: the test's own faults are below)"))
    print("\nevery fault in this run (the schedule's and the test's own):\n  "
          + ("\n  ".join(faults_in(new)) or "(no faults)"))
    where = f" up to t={args.until:.3f}s" if args.until is not None else " before the violation"
    who = f" involving {args.node}" if args.node else ""
    print(f"\nevents{who}{where}:")
    for line in listing(new, args.until, args.node, args.events):
        print("  " + line)
    page = (report_dir / "failures" / (new["id"] + ".html")).resolve()
    print(f"\ntrace viewer (open it in your browser): {page.as_uri()}")
    return 0 if same else 2


if __name__ == "__main__":
    raise SystemExit(main())
