"""The ``--sandbox`` switch of the grading plugin.

``enable(config, impl)`` turns on sandboxed imports in the loader and registers ``SandboxPlugin``:

* a test during which a sandboxed child died (exit, a limit, silence, a garbled protocol) fails
  with that reason even if the grader's code caught the exception: a crash is never a pass;
  and the rest of that test gets no new child (every further call fails at once), so that a
  Hypothesis test whose every example crashes or hangs costs one crash, not one per example;
* every child is killed at the end of the session, before the reports are written;
* the grading process runs on one CPU, with its children (``process.share_one_cpu``).
"""

from __future__ import annotations

import sys
from pathlib import Path

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


def enable(config: pytest.Config, impl: Path | None = None) -> None:
    """Sandboxed grading of the submission folder ``impl``. Importing this module has already
    imported the whole sandbox (``secrets``, ``ctypes`` and the rest of what it needs), and
    ``impl`` is never put on this process's ``sys.path``: a submission that ships a module named
    like one the grader imports later (``hmac.py``, ``ctypes/``) is only ever seen by the
    child, which imports from its own copy of the submission."""
    from ..grading import loader

    loader.use_sandbox(True)
    if impl is None:                               # the folder was chosen (and put on sys.path)
        impl = loader.impl_dir()                   # already: an older plugin; taken off below
    loader.use_impl(impl, importable=False)
    if str(impl) in sys.path:                      # put there by hand: take it out again
        sys.path[:] = [p for p in sys.path if p != str(impl)]
    process.TEST_SCOPED = True
    process.share_one_cpu()     # this grading process and its children: one CPU
    if not config.pluginmanager.has_plugin("labkit-sandbox"):
        config.pluginmanager.register(SandboxPlugin(), "labkit-sandbox")
