"""The trace viewer page: self-contained, and working in a real headless Chromium (lanes,
arrows, a click that shows a payload), with a screenshot saved under reports/."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from labkit import NetworkConfig, Node, PropertyViolation, Simulation
from labkit.faults import Crash, Partition, Pause, Restart, Resume
from labkit.grading import failures
from labkit.viewer import render_html

REPO = Path(__file__).resolve().parents[1]


class Chatty(Node):
    def on_start(self):
        self.term = self.storage.get("term", 0)
        self.set_timer("tick", 0.05)

    def timer_tick(self):
        self.term += 1
        self.storage.put("term", self.term)
        self.log(f"tick {self.term}")
        self.broadcast({"type": "heartbeat", "term": self.term})
        self.set_timer("tick", 0.05)

    def handle_heartbeat(self, src, msg):
        self.send(src, {"type": "ack", "term": msg["term"]})

    def handle_ack(self, src, msg):
        pass

    def on_request(self, request):
        self.reply(request, {"term": self.term})


def failure_record(tmp_path: Path) -> dict:
    schedule = (Partition(0.2, (("n1", "n2"), ("n3",))), Crash(0.3, "n2"), Pause(0.35, "n1"),
                Resume(0.4, "n1"), Restart(0.45, "n2"))
    sim = Simulation(Chatty, 3, seed=1, network=NetworkConfig(loss=0.1))
    sim.track_state(lambda n: f"{'leader' if n.id == 'n1' else 'follower'} {n.term // 5}")
    sim.apply_schedule(schedule)
    sim.request("n3", {"op": "read"})
    sim.run_until(0.5)
    exc = PropertyViolation("example property", "n3 never heard from n1", time=0.5)
    failures.capture(sim, 1, schedule, exc, str(exc))
    cap = failures.take()
    return failures.to_record(cap, fid="lab9-example-000000", lab="lab9", nodeid="x::test_x",
                              name="An example failure", impl=str(tmp_path))


def test_page_is_self_contained(tmp_path):
    html = render_html(failure_record(tmp_path))
    assert "/*DATA*/" not in html and "/*SCRIPT*/" not in html
    external = re.findall(r"""(?:src|href)\s*=\s*["'](?!#|data:)[^"']+""", html)
    assert external == []
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", html)


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_trace_page_renders_and_responds_in_chromium(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    browser_path = chromium()
    if browser_path is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium)")
    record = failure_record(tmp_path)
    page_path = tmp_path / "trace.html"
    page_path.write_text(render_html(record))
    shot = REPO / "reports" / "viewer-screenshot.png"
    shot.parent.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 700})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.as_uri())
            assert errors == []
            assert page.locator("#diagram .lane-label").count() == 3
            assert page.locator("#diagram line.msg").count() > 20
            assert page.locator("#diagram line.msg.dropped").count() > 0
            assert page.locator("#diagram rect.partition").count() >= 1
            assert page.locator("#diagram rect.role-leader").count() >= 1
            assert page.locator("#diagram circle.ev.crash").count() == 1
            assert page.locator("#diagram line.violation").count() == 1
            box = page.locator("#diagram line.hit").nth(5).bounding_box()
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            details = page.locator("#details-body").inner_text()
            assert '"type": "heartbeat"' in details or '"type": "ack"' in details
            assert "Log of" in details
            page.locator("#node-filters input[data-name='n3']").uncheck()
            assert page.locator("#diagram .lane-label").count() == 2
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
