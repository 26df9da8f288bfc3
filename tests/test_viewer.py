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

pytestmark = pytest.mark.slow  # subprocesses: see the tiers in tests/conftest.py

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
            page.locator("#reset-zoom").click()          # it opens zoomed on the violation
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


# ----- the page as a student uses it: axes, faults, legend, the violation, per-key history -------

def open_page(page, path: Path) -> list:
    errors: list = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    return errors


def browser_or_skip():
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    path = chromium()
    if path is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium)")
    return playwright, path


def launch(p, path):
    return p.chromium.launch(executable_path=path, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"])


def scripted_record(tmp_path: Path) -> dict:
    """A failure of a scripted test: faults applied by scenario code, no generated schedule,
    several events at one instant right before the violation."""
    sim = Simulation(Chatty, 3, seed=2)
    sim.track_state(lambda n: f"{'leader' if n.id == 'n1' else 'follower'} {n.term // 5}")
    sim.run_until(0.2)
    sim.partition(["n1"], ["n2", "n3"])
    sim.crash("n3")
    sim.run_until(0.4)
    exc = PropertyViolation("example property", "n1 and n2 disagree", time=0.4)
    failures.capture(sim, 2, (), exc, str(exc))
    return failures.to_record(failures.take(), fid="lab9-scripted-000000", lab="lab9",
                              nodeid="x::test_y", name="A scripted failure", impl=str(tmp_path))


def test_scripted_faults_are_listed_and_the_violation_opens_centred(tmp_path):
    playwright, path = browser_or_skip()
    record = scripted_record(tmp_path)
    page_path = tmp_path / "scripted.html"
    page_path.write_text(render_html(record))
    with playwright.sync_playwright() as p:
        browser = launch(p, path)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 800})
            errors = open_page(page, page_path)
            assert errors == []
            faults = page.locator("#faults li").all_inner_texts()
            assert any("partition n1 | n2,n3" in f for f in faults), faults
            assert any("crash n3" in f for f in faults), faults
            assert "none" in page.locator("#schedule").inner_text()
            assert page.locator("#legend span").count() >= 15
            # opens on the event-order axis with the violation in view, lanes it names in red
            assert page.locator("#diagram").get_attribute("data-axis") == "step"
            width = page.evaluate("document.getElementById('diagram').clientWidth")
            vx = float(page.locator("#diagram line.violation").get_attribute("x1"))
            assert 0.3 * width < vx < 0.85 * width, (vx, width)
            assert sorted(page.locator("#diagram text.lane-label.named").all_text_contents()) == ["n1", "n2"]
            assert page.locator("#diagram .recent").count() > 5
            label = page.locator("#diagram text.violation-label").bounding_box()
            assert label["x"] >= 0 and label["x"] + label["width"] <= width + 1
            # events of one instant stand apart on the step axis, and stack on the time axis
            page.locator("#reset-zoom").click()
            xs_step = page.evaluate("""[...document.querySelectorAll('#diagram circle.ev')]
                .map(c => [c.querySelector('title').textContent.split(' ')[1], c.getAttribute('cx')])""")
            by_time: dict = {}
            for t, cx in xs_step:
                by_time.setdefault(t, set()).add(cx)
            assert any(len(v) > 1 for v in by_time.values()), "same-instant events share a column"
            page.locator("#axis-toggle").click()
            assert page.locator("#diagram").get_attribute("data-axis") == "time"
            page.locator("#reset-zoom").click()
            xs_time = page.evaluate("""[...document.querySelectorAll('#diagram circle.ev')]
                .map(c => [c.querySelector('title').textContent.split(' ')[1], c.getAttribute('cx')])""")
            same: dict = {}
            for t, cx in xs_time:
                same.setdefault(t, set()).add(cx)
            assert all(len(v) == 1 for v in same.values())
            # role lanes, hover text on arrows, the fault list moves the view
            assert page.locator("#diagram rect.role-leader").count() >= 1
            assert "heartbeat" in page.locator("#diagram line.hit title").first.inner_html() or \
                "ack" in page.locator("#diagram line.hit title").first.inner_html()
            page.locator("#faults li").first.click()
            assert page.locator("#diagram rect.partition").count() >= 1
            shot = REPO / "reports" / "viewer-scripted.png"
            shot.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()


def test_partition_labels_never_overlap(tmp_path):
    playwright, path = browser_or_skip()
    sim = Simulation(Chatty, 5, seed=3)
    for k in range(12):   # a dozen faults in quick succession, each with a long label
        sim.run_until(0.05 + k * 0.01)
        sim.partition(["n1", "n2"], ["n3", "n4"], ["n5"]) if k % 2 else sim.isolate(f"n{k % 5 + 1}")
    sim.run_until(0.4)
    exc = PropertyViolation("example property", "n5 is alone", time=0.4)
    failures.capture(sim, 3, (), exc, str(exc))
    record = failures.to_record(failures.take(), fid="lab9-labels-000000", lab="lab9",
                                nodeid="x::test_z", name="Labels", impl=str(tmp_path))
    page_path = tmp_path / "labels.html"
    page_path.write_text(render_html(record))
    with playwright.sync_playwright() as p:
        browser = launch(p, path)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            assert open_page(page, page_path) == []
            for axis in ("step", "time"):
                page.locator("#reset-zoom").click()
                boxes = [page.locator("#diagram text.partition-label").nth(i).bounding_box()
                         for i in range(page.locator("#diagram text.partition-label").count())]
                assert boxes, axis
                for i, a in enumerate(boxes):
                    for b in boxes[i + 1:]:
                        apart = (a["x"] + a["width"] <= b["x"] + 0.5 or b["x"] + b["width"] <= a["x"] + 0.5
                                 or a["y"] + a["height"] <= b["y"] + 0.5 or b["y"] + b["height"] <= a["y"] + 0.5)
                        assert apart, (axis, a, b)
                page.locator("#axis-toggle").click()
        finally:
            browser.close()


def linearizability_record(tmp_path: Path) -> dict:
    record = failure_record(tmp_path)
    ops = [
        {"id": 1, "client": "c1", "node": "n1", "input": {"op": "set", "key": "x", "value": "a"},
         "call": 0.01, "ret": 0.05, "output": {"ok": True}, "status": "ok"},
        {"id": 2, "client": "c2", "node": "n2", "input": {"op": "set", "key": "x", "value": "b"},
         "call": 0.06, "ret": 0.09, "output": {"ok": True}, "status": "ok"},
        {"id": 3, "client": "c3", "node": "n3", "input": {"op": "get", "key": "x"},
         "call": 0.10, "ret": 0.12, "output": {"ok": True, "value": "a"}, "status": "ok"},
    ]
    record["history"] = ops
    record["details"] = {"linearizability": {
        "explanation": "key x: op 3 read 'a' after op 2 wrote 'b' and returned",
        "keys": {"x": {"ops": ops, "prefix": [1, 2], "culprits": [3]}}}}
    return record


def test_linearizability_history_view(tmp_path):
    playwright, path = browser_or_skip()
    page_path = tmp_path / "lin.html"
    page_path.write_text(render_html(linearizability_record(tmp_path)))
    with playwright.sync_playwright() as p:
        browser = launch(p, path)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            assert open_page(page, page_path) == []
            box = page.locator("#linearizability")
            assert "cannot be ordered" in box.inner_text()
            assert box.locator("svg.history rect.bar").count() == 3
            assert box.locator("svg.history rect.bar.placed").count() == 2
            assert box.locator("svg.history rect.bar.culprit").count() == 1
            assert "1. set" in box.locator("svg.history").inner_html()
            assert box.locator("tr.culprit").count() == 1
            page.locator("#reset-zoom").click()
            assert page.locator("#diagram line.op.culprit").count() == 1
            page.locator("#key-filter").fill("nope")
            assert page.locator("#diagram line.op").count() == 0
        finally:
            browser.close()
