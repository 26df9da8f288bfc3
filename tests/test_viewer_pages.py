"""Real failure pages of buggy variants of Labs 1-4, loaded in headless Chromium: the violation
in view on the event-order axis, the faults listed, role lanes for Raft, the per-key history
for linearizability failures; a screenshot of each under reports/ (``viewer-<lab>.png``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graderun import BUGGY, REPO, grade
from test_viewer import browser_or_skip, launch, open_page

pytestmark = pytest.mark.slow  # subprocesses: see the tiers in tests/conftest.py

# lab package -> (variant, the grader test it fails, what its page must show)
PAGES = {
    "lab1_cap": ("rollback_deletes", "test_refused_write_keeps_previous_value", {"faults"}),
    "lab2_raft": ("no_truncate", "test_old_leader_rejoins", {"faults", "roles"}),
    "lab3_partitions": ("read_skips_write_back", "test_coordinator_crash_mid_write",
                        {"faults", "linearizability"}),
    "lab4_cache": ("strong_read_r1", "test_strong_linearizable",
                   {"linearizability"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("package", sorted(PAGES))
def test_failure_page_of_a_buggy_variant(package, tmp_path):
    variant, test, shows = PAGES[package]
    if not (BUGGY / package / variant).is_dir():
        pytest.skip(f"no variant {variant}")
    playwright, browser_path = browser_or_skip()
    run = grade(package, BUGGY / package / variant, tmp_path, "-k", test, "-m", "not live")
    pages = sorted((tmp_path / "reports" / "failures").glob("*.html"))
    assert pages, f"{variant} left no failure page:\n{run.stdout[-3000:]}"
    page_path = pages[0]
    record = json.loads(page_path.with_suffix(".json").read_text())
    size = page_path.stat().st_size
    print(f"{package}: {page_path.name} {size / 1e6:.2f} MB, {len(record['trace'])} events")
    shot = REPO / "reports" / f"viewer-{package.split('_')[0]}.png"
    shot.parent.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = launch(p, browser_path)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            assert open_page(page, Path(page_path)) == []
            assert page.locator("#diagram").get_attribute("data-axis") == "step"
            assert page.locator("#diagram line.violation").count() == 1
            assert page.locator("#legend span").count() >= 15
            if "faults" in shows:
                assert page.locator("#faults li").count() >= 1
            if "roles" in shows:
                assert page.locator("#diagram rect.role").count() >= 1
            if "linearizability" in shows:
                panel = page.locator("#linearizability")
                assert panel.locator("svg.history rect.bar.culprit").count() >= 1, \
                    record.get("details")
                assert panel.locator("tr.culprit").count() >= 1
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
