"""The trace viewer: one self-contained HTML page per failure (no network, no external assets).

``render_html(record)`` takes a failure record (``labkit.grading.failures.to_record``) and
returns the page: a space-time diagram with a lane per node, message arrows from send to
delivery, drops, partitions, crashes, restarts and pauses, node roles along the lanes, client
operations as intervals, the violation highlighted; zoom (wheel), pan (drag), filters by node
and message type, and a side panel with the payload of a clicked event and the node's log
lines. A linearizability failure adds a per-key view of the operations.
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
