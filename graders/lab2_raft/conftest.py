"""Lab 2 (Raft) graders: the code under test comes from ``--impl`` through the ``lab`` fixture."""

from labkit.grading import lab_fixture

from . import harness

lab = lab_fixture("lab2_raft")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if harness.schedules_run:
        terminalreporter.write_line(
            f"lab2_raft: {harness.schedules_run} generated fault schedules run, every "
            f"invariant checked after every event")
