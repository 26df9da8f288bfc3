"""The ``--sandbox`` switch of the grading plugin.

``enable(config)`` turns on sandboxed imports in the loader and registers ``SandboxPlugin``:

* a test during which a sandboxed child died (exit, a limit, silence, a garbled protocol) fails
  with that reason even if the grader's code caught the exception: a crash is never a pass;
  and the rest of that test gets no new child (every further call fails at once), so that a
  Hypothesis test whose every example crashes or hangs costs one crash, not one per example;
* every child is killed at the end of the session, before the reports are written.
"""

from __future__ import annotations

import pytest

from . import process
from .remote import SandboxCrash


class SandboxPlugin:
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        process.new_test()

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item):
        before = len(process.DEATHS)
        result = yield
        if len(process.DEATHS) > before:
            raise SandboxCrash(process.DEATHS[before])
        return result

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        process.shutdown_all()


def enable(config: pytest.Config) -> None:
    from ..grading import loader

    loader.use_sandbox(True)
    process.TEST_SCOPED = True
    if not config.pluginmanager.has_plugin("labkit-sandbox"):
        config.pluginmanager.register(SandboxPlugin(), "labkit-sandbox")
