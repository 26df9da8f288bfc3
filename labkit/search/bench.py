"""``nox -s bench``'s search figures: every graded exhaustive search (``graders/<lab>/
test_search.py``, its ``SEARCHES``) on the reference, with the graded bounds: distinct states,
wall seconds and states per second each, and ``search_states_per_s`` over them all."""

from __future__ import annotations

import importlib

from ..grading.labs import LABS, REPO
from .bfs import search


def run(labs: list[str] | None = None) -> dict:
    figures: dict = {}
    states = seconds = 0.0
    for lab in LABS:
        if labs and lab.short not in labs and lab.package not in labs:
            continue
        if not (REPO / "graders" / lab.package / "test_search.py").exists():
            continue
        if not (REPO / "reference" / lab.package).is_dir():
            continue
        from instructor.testing import reference_lab

        code = reference_lab(lab.package)
        module = importlib.import_module(f"graders.{lab.package}.test_search")
        for name, spec in module.SEARCHES.items():
            result = search(spec.build(code), depth=spec.depth, max_states=spec.max_states,
                            max_seconds=spec.max_seconds)
            key = f"{lab.short}_{name}"
            figures[f"{key}_states"] = result.states
            figures[f"{key}_seconds"] = round(result.seconds, 2)
            figures[f"{key}_verdict"] = result.summary()
            states += result.states
            seconds += result.seconds
    figures["search_states_per_s"] = round(states / seconds) if seconds else 0
    return figures
