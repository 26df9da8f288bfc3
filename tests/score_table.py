"""The score table: what the reference, the starter and every buggy variant score, test by test.

    python tests/score_table.py                 # print the table of the current code
    python tests/score_table.py --write         # rewrite tests/data/scores.json
    python tests/score_table.py --jobs 2 lab2   # some labs only, two gradings at a time

``tests/data/scores.json`` is the table recorded before a change; ``test_score_table.py``
grades everything again and compares, so a restructure that changes a verdict cannot pass
unseen. A row is ``{"score": S, "max_score": M, "failed": [test function names]}``.
The live tests are left out (``-m "not live"``); the determinism re-run is off (it changes no
verdict, only adds a note).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "tests" / "data" / "scores.json"
BUGGY = REPO / "tests" / "buggy"


def lab_packages() -> list[str]:
    return sorted(p.name for p in (REPO / "graders").iterdir()
                  if p.is_dir() and p.name.startswith("lab") and "_" in p.name)


def impls(package: str) -> list[tuple[str, str]]:
    """``(row name, --impl value)`` for the reference, the starter and every variant."""
    rows = [("reference", "reference"), ("starter", "starter")]
    folder = BUGGY / package
    if folder.is_dir():
        rows += [(p.name, str(p)) for p in sorted(folder.iterdir())
                 if p.is_dir() and not p.name.startswith("_")]
    return rows


def grade_row(package: str, impl: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONHASHSEED": "0", "LABKIT_NO_RECHECK": "1"}
        env.pop("PYTEST_ADDOPTS", None)
        cmd = [sys.executable, "-m", "pytest", f"graders/{package}", "--impl", impl,
               "--report-dir", tmp, "-q", "--no-header", "-p", "no:cacheprovider",
               "-m", "not live"]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=1800)
        path = Path(tmp) / "score.json"
        if not path.exists():
            return {"error": f"exit {proc.returncode}: {proc.stdout[-1500:]}{proc.stderr[-1500:]}"}
        report = json.loads(path.read_text())
    ids = report["extra_data"]["nodeids"]
    failed = sorted(nodeid.split("::")[-1].split("[")[0]
                    for t, nodeid in zip(report["tests"], ids) if t["status"] != "passed")
    return {"score": report["score"], "max_score": report["max_score"], "failed": failed}


def table(packages: list[str], jobs: int) -> dict:
    work = [(pkg, name, impl) for pkg in packages for name, impl in impls(pkg)]
    with ThreadPoolExecutor(jobs) as pool:
        rows = list(pool.map(lambda w: grade_row(w[0], w[2]), work))
    out: dict = {}
    for (pkg, name, _), row in zip(work, rows):
        out.setdefault(pkg, {})[name] = row
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", help="lab packages (default: all)")
    parser.add_argument("--write", action="store_true", help=f"write {TABLE.relative_to(REPO)}")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    packages = [p for p in lab_packages() if not args.labs or p in args.labs
                or p.split("_")[0] in args.labs]
    result = table(packages, args.jobs)
    text = json.dumps(result, indent=1, sort_keys=True)
    if args.write:
        TABLE.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(TABLE.read_text()) if TABLE.exists() else {}
        old.update(result)
        TABLE.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
