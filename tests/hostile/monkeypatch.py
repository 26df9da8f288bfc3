"""Patches the grader from inside student code: the plugin's report writer (every test passed,
full marks), the checkers (never report a violation) and pytest's test reports (always passed)."""

import sys

PATCHED = []


def full_marks(results):
    for r in results:
        r.status, r.score, r.output = "passed", r.max_score, ""


def attack(obj):
    if PATCHED:
        return
    PATCHED.append(True)
    try:
        import labkit.grading.plugin as plugin
        real_write = plugin.write_reports

        def write_reports(results, *args, **kwargs):
            full_marks(results)
            return real_write(results, *args, **kwargs)

        plugin.write_reports = write_reports
        plugin.to_terminal.__globals__["to_terminal"] = plugin.to_terminal
        real_terminal = plugin.to_terminal

        def to_terminal(results, *args, **kwargs):
            full_marks(results)
            return real_terminal(results, *args, **kwargs)

        plugin.to_terminal = to_terminal
    except Exception:
        pass
    try:
        import labkit.errors
        import labkit.simulator

        labkit.simulator.Simulation.check_always = lambda self, prop, check: None
        labkit.errors.PropertyViolation.__init__ = lambda self, *a, **k: Exception.__init__(self)
    except Exception:
        pass
    try:
        import _pytest.reports

        _pytest.reports.TestReport.passed = property(lambda self: True)
    except Exception:
        pass
    sys.modules.setdefault("hostile_was_here", sys)
