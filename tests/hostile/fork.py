"""Forks a daemon that leaves the process group and the session (double fork + setsid) and
keeps overwriting every reports folder it can find for 30 seconds, long after grading ends.
The student process itself carries on honestly; if fork is refused, nothing else happens."""

import json
import os
import sys
import time
from pathlib import Path

STARTED = []
FAKE = {"score": 1000.0, "max_score": 1000.0, "execution_time": 1.0, "tests": []}


def report_dirs():
    found = [Path("reports")]
    for i, arg in enumerate(sys.argv[:-1]):
        if arg == "--report-dir":
            found.append(Path(sys.argv[i + 1]))
    try:
        import labkit
        found.append(Path(labkit.__file__).resolve().parents[1] / "reports")
    except Exception:
        pass
    return found


def daemon():
    deadline = time.time() + 30
    while time.time() < deadline:
        for folder in report_dirs():
            try:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / "score.json").write_text(json.dumps(FAKE))
            except OSError:
                pass
        time.sleep(0.2)


def attack(obj):
    if STARTED:
        return
    STARTED.append(True)
    try:
        pid = os.fork()
    except OSError:
        return                                  # no new processes allowed: stay honest
    if pid:
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
        return
    try:                                        # first child: leave the session, fork again
        os.setsid()
        if os.fork() == 0:
            daemon()
    finally:
        os._exit(0)
