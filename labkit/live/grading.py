"""Helpers for live grader tests: a cluster fixture that always cleans up, and failures that
carry the cluster's state.

    # graders/<package>/test_live.py
    import pytest
    from labkit.live.grading import LIVE_TEST_TIMEOUT, live_cluster_fixture, live_scenario

    pytestmark = [pytest.mark.live, pytest.mark.timeout(LIVE_TEST_TIMEOUT)]
    cluster = live_cluster_fixture("<package>")

    @pytest.mark.points(2)
    def test_live_something(cluster):
        '''Live: what the student sees'''
        with live_scenario(cluster):
            reply = cluster.get("n1", "/set/k/v?consistency=strong")
            ...

The fixture starts real processes from ``--impl`` (``labkit.grading.loader.impl_dir()``) once
the ``lab`` fixture has imported the package, fails at once with the node's own error when a
handler raised (so an untouched starter reads "not implemented yet"), and kills every process
when the test ends, passed or failed. Limits are real seconds, chosen generous so that the
tests pass on a loaded two-core machine: they check the same properties as the simulation,
not speed.
"""

from __future__ import annotations

import time
from contextlib import ExitStack, contextmanager
from typing import Any, Iterator

import pytest

from ..errors import PropertyViolation
from ..grading import loader
from ..grading.loader import impl_dir, require
from ..grading.scenario import replay_command
from .cluster import Cluster, LiveError, NodeError, Reply
from .labs import live_lab

LIVE_TEST_TIMEOUT = 180   # pytest-timeout per live test, in real seconds


class LiveFailure(AssertionError):
    """A live test failed; ``str()`` adds the cluster's state and where its logs are."""


def live_cluster_fixture(package: str, nodes: int | None = None, *, name: str = "cluster",
                         snapshot_every: int = 0):
    """A function-scoped fixture (called ``name``): a started live ``Cluster`` of ``package``
    (its state machines asking for a snapshot every ``snapshot_every`` indices, if not 0)."""

    @pytest.fixture(name=name)
    def cluster(lab: Any, tmp_path: Any) -> Iterator[Cluster]:
        if getattr(loader, "_sandboxed", False):  # fail closed: see the message
            pytest.skip("live tests run the submission in ordinary, unconfined processes, so "
                        "they are not run with --sandbox (grade_class leaves them out unless "
                        "given --live); run them with `nox -s grade -- -m live`")
        with ExitStack() as stack:
            try:
                require(lab, live_lab(package).node_class)
                c = stack.enter_context(Cluster(package, impl_dir(), nodes=nodes,
                                                data_dir=tmp_path / "live",
                                                snapshot_every=snapshot_every))
                c.check_errors()
            except Exception as exc:  # noqa: BLE001 - the test reports it, see _Unavailable
                stack.close()
                yield _Unavailable(exc)
                return
            yield c

    return cluster


class _Unavailable:
    """What the ``cluster`` fixture yields when the cluster could not start (an untouched
    starter, a node that raised in ``on_start``): the test's first use of it raises the
    reason, so the test fails like every other test ("not implemented yet", the node's file
    and line) instead of erroring in its set-up."""

    def __init__(self, exc: BaseException):
        self._exc = exc

    def __getattr__(self, name: str) -> Any:
        raise self._exc


@contextmanager
def live_scenario(cluster: Cluster) -> Iterator[Cluster]:
    """Re-raise a failed check with the cluster's state, its recent faults, where the node
    logs are and how to run the test again. A node's own error passes through unchanged."""
    try:
        yield cluster
    except NodeError:
        raise
    except (PropertyViolation, AssertionError, LiveError) as exc:
        if isinstance(exc, LiveFailure):
            raise
        raise LiveFailure(explain(exc, cluster)) from exc


def explain(exc: BaseException, cluster: Cluster) -> str:
    lines = [str(exc).rstrip(), "cluster (real processes on localhost) when the test failed:"]
    try:
        statuses = cluster.statuses()
    except Exception as err:  # explaining must never hide the failure itself
        statuses = {}
        lines.append(f"  (no status: {err})")
    for node, st in statuses.items():
        view = " ".join(f"{k}={v}" for k, v in (st.get("view") or {}).items())
        lines.append(f"  {node}: {st.get('state')}, boot {cluster.incarnation[node]}"
                     + (f", {view}" if view else "")
                     + (f", {st['error_count']} handler errors" if st.get("error_count") else ""))
    try:
        lines.append(f"  network: {cluster.router_state()['description']}")
    except Exception:
        pass
    if cluster.events:
        lines.append("  faults: " + "; ".join(f"{t:.1f}s {e}" for t, e in cluster.events[-12:]))
    lines.append(f"  node logs and storage files: {cluster.data_dir}")
    replay = replay_command()
    if replay:
        lines.append(f"run it again: {replay}")
    return "\n".join(lines)


def timed_get(cluster: Cluster, node: str, path: str) -> tuple[Reply, float]:
    """``cluster.get`` and how many real seconds it took."""
    start = time.monotonic()
    reply = cluster.get(node, path)
    return reply, time.monotonic() - start


__all__ = ["LIVE_TEST_TIMEOUT", "LiveFailure", "live_cluster_fixture", "live_scenario",
           "timed_get", "explain"]
