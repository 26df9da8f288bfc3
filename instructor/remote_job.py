"""One grading job on a cluster worker: ``python -m instructor.remote_job SPEC.json``.

The Dask task (``cluster.grade_on_worker``) unpacks the grader bundle (``labkit/``,
``graders/``, ``pyproject.toml`` and these instructor modules; never ``reference/``) and the
submission on the worker, then runs this with the bundle first on ``PYTHONPATH``, so that the
job grades with the instructor's graders whatever the worker has installed. It is the same
``jobs.Job`` as on one machine (student code sandboxed, the same time and memory limits,
failing closed); the result goes to ``SPEC["result"]`` as JSON.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from .jobs import Job, Limits


def main(argv: list[str] | None = None) -> int:
    spec = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
    job = Job(Path(spec["impl"]), Path(spec["report_dir"]), Limits(**spec["limits"]),
              root=Path(spec["root"]), labs=[spec["package"]], die_with_parent=True)
    job.start()
    result = job.wait()
    Path(spec["result"]).write_text(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
