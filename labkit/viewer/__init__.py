"""The trace viewer: one self-contained HTML page per failure (no network, no external assets).

``render_html(record)`` takes a failure record (``labkit.grading.failures.to_record``) and
returns the page: a space-time diagram with a lane per node, message arrows from send to
delivery, drops, fault bands, crashes, restarts and pauses, node roles along the lanes (from
``state`` events: ``Simulation.track_state``), client operations as intervals, and a legend.

* Two x axes: event order (every event its own column, so events of one virtual instant stand
  apart) and virtual time; a toggle switches between them. The page opens on event order,
  centred on the violation, with the lanes its evidence names and the events just before it
  highlighted. Wheel zooms at the cursor, drag pans.
* Hovering an arrow shows its type and fields; clicking shows the payload and the node's log
  lines up to that moment. Filters by node, message type and key.
* Every fault is listed, from the generated schedule and from the trace (faults applied by a
  scenario's own code too); clicking one moves the view there.
* A linearizability failure adds a per-key history (Porcupine-style: a lane per client, a bar
  per operation, the longest linearizable prefix numbered, the operation that cannot be placed
  in red) when the record's ``details["linearizability"]`` holds
  ``{"explanation": str, "keys": {key: {"ops": [operation JSON], "prefix": [op ids in
  linearization order], "culprits": [op ids]}}}``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

_HERE = Path(__file__).parent


def render_html(record: dict) -> str:
    data = json.dumps(record, separators=(",", ":")).replace("</", "<\\/")
    page = (_HERE / "page.html").read_text()
    return (page.replace("/*STYLE*/", (_HERE / "viewer.css").read_text())
                .replace("/*SCRIPT*/", (_HERE / "viewer.js").read_text())
                .replace("/*DATA*/", data)
                .replace("<!--TITLE-->", html.escape(f"{record.get('id', 'trace')}: "
                                                      f"{record.get('property', '')}")))
