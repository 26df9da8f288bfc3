"""The Raft grader's toolkit: a checked cluster, waiting for leaders and commits, the client
workload, and the generated-schedule runner with its liveness phase.

Every cluster is built by ``Cluster``, which installs ``invariants.RaftChecker``: the safety
invariants are checked after every event of every test. It also registers the fault targets
(``@leader``, ``@follower``, ``@lagging``) that aimed schedules name, and the role lanes of
the trace viewer. The numbers below are the ones
the handout promises (assignments/lab2-raft.md, "Contract" and "Rubric").
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

from labkit import NetworkConfig, Operation, PropertyViolation, Simulation
from labkit.events import CRASH, FAULT, PAUSE, RESTART, RESUME
from labkit.faults import RecoverAll
from labkit.grading import require
from labkit.grading.scenario import ScenarioFailure, scenario
from labkit.grading.kit import ShrinkBudget, run_without_faults_first
from labkit.strategies import GRADING_PHASES

from .invariants import RaftChecker, command_key

N = 5                       # nodes in a cluster (7 in the churn test)
ELECTION_DEADLINE = 1.0     # a connected majority without a leader elects one within this
COMMIT_DEADLINE = 0.5       # a command a leader accepted is applied by its connected majority
RECOVERY_DEADLINE = 2.0     # after RecoverAll: a leader, and a new command applied everywhere
WORKLOAD_PERIOD = 0.1       # generated runs: the client submits a command this often
DUPLICATING = NetworkConfig(duplicate=0.05)   # safety tests always duplicate some messages

LIVENESS = "liveness"
FAULT_KINDS = frozenset((FAULT, CRASH, RESTART, PAUSE, RESUME))   # faults_so_far lists these


class Cluster:
    """A simulated Raft cluster with the invariant checker installed."""

    def __init__(self, lab: Any, n: int = N, *, seed: int = 0,
                 network: NetworkConfig | None = None, max_time: float = 60.0) -> None:
        node_class = require(lab, "RaftNode")
        self.sim = Simulation(node_class, n, seed=seed, network=network, max_time=max_time,
                              max_events=400_000, client_timeout=0.5)
        self.checker = RaftChecker(self.sim)
        self.seed = seed
        self.nodes = self.sim.node_ids
        self.majority = n // 2 + 1
        self.where: dict[Any, set[tuple[str, int]]] = {}   # command -> {(node, run)}
        self.sim.on_apply(self._applied)
        views = self.checker.views
        self.sim.track_state(lambda node: views[node.id].label)   # "leader 3": viewer lanes
        self.sim.add_target("leader", self._target_leader)
        self.sim.add_target("follower", self._target_follower)
        self.sim.add_target("lagging", self._target_lagging)

    # ----- fault targets (labkit.faults: "@leader" in a schedule) ------------------------------

    def _target_leader(self, sim: Simulation) -> str | None:
        """The up leader with the highest term."""
        found = self.checker.leader()
        return found[0] if found else None

    def _target_follower(self, sim: Simulation) -> str | None:
        """The leader's next up node in id order (wrapping): one end of one of its links."""
        leader = self._target_leader(sim)
        if leader is None:
            return None
        k = self.nodes.index(leader)
        ring = self.nodes[k + 1:] + self.nodes[:k]
        return next((n for n in ring if sim.is_up(n)), None)

    def _target_lagging(self, sim: Simulation) -> str | None:
        """The up node with the shortest log (the lowest id among equals), not the leader."""
        leader = self._target_leader(sim)
        views = self.checker.views
        rest = [n for n in self.nodes if n != leader and sim.is_up(n)]
        return min(rest, key=lambda n: (len(views[n].ids), n), default=None)

    def _applied(self, node: str, index: int, command: Any) -> None:
        self.where.setdefault(command_key(command), set()).add(
            (node, self.sim.incarnation[node]))

    # ----- running a scripted scenario ---------------------------------------------------------

    @contextmanager
    def scenario(self) -> Iterator["Cluster"]:
        """``labkit.grading.scenario`` for a scripted test: on failure the message also lists
        the faults the test applied so far (crashes, restarts, partitions, ...)."""
        with scenario(self.sim, seed=self.seed):
            try:
                yield self
            except PropertyViolation as exc:
                raise PropertyViolation(exc.prop, exc.evidence + self.faults_so_far(),
                                        time=exc.time, nodes=exc.nodes) from exc
            except AssertionError as exc:
                if isinstance(exc, ScenarioFailure):
                    raise
                raise AssertionError(str(exc) + self.faults_so_far()) from exc

    def faults_so_far(self, limit: int = 30) -> str:
        """The faults of the run so far, from its trace (the failing step's included)."""
        lines = [f"  t={ev.time:.3f}s {ev.detail if ev.kind == FAULT else ev.kind + ' ' + ev.node}"
                 for ev in self.sim.trace.records if ev.kind in FAULT_KINDS]
        if not lines:
            return ""
        more = f"  ... ({len(lines) - limit} earlier)\n" if len(lines) > limit else ""
        return "\nfaults the test applied so far:\n" + more + "\n".join(lines[-limit:])

    # ----- reading the cluster -----------------------------------------------------------------

    def state(self, node: str) -> dict:
        return self.sim.node(node).raft_state()

    def describe(self) -> str:
        """One line per node: up/down, role, term, log length, commit index."""
        self.checker.sync()
        parts = []
        for node in self.nodes:
            v = self.checker.views[node]
            if not self.sim.is_up(node):
                parts.append(f"{node}: down (term {v.term}, {len(v.log)} entries)")
            else:
                paused = " (paused)" if self.sim.is_paused(node) else ""
                parts.append(f"{node}: {v.role}{paused} term {v.term}, {len(v.log)} entries, "
                             f"commit {v.commit}")
        return "; ".join(parts)

    def applied_in_run(self, command: Any, node: str) -> bool:
        """True if the current run of ``node`` has applied ``command``."""
        return (node, self.sim.incarnation[node]) in self.where.get(command_key(command), ())

    def applied_ever(self, command: Any) -> set[str]:
        return {node for node, _ in self.where.get(command_key(command), ())}

    def logs_equal(self) -> bool:
        """True if every node holds the same log (as last seen; crashed nodes included)."""
        self.checker.sync()
        first = self.checker.views[self.nodes[0]].ids
        return all(v.ids == first for v in self.checker.views.values())

    def established_leader(self, among: Sequence[str] | None = None) -> tuple[str, int] | None:
        """A leader of ``among`` whose term no up node of ``among`` exceeds and that a majority
        of the cluster follows in that term (its heartbeats got through)."""
        among = self.nodes if among is None else among
        self.checker.sync()
        views = [self.checker.views[n] for n in among if self.sim.is_up(n)]
        top = max((v.term for v in views), default=0)
        leaders = [v for v in views if v.role == "leader" and v.term == top]
        if len(leaders) != 1:
            return None
        followers = sum(1 for v in views if v.term == top and v.role != "candidate")
        return (leaders[0].node, top) if followers >= self.majority else None

    # ----- waiting -----------------------------------------------------------------------------

    def wait_leader(self, within: float = ELECTION_DEADLINE,
                    among: Sequence[str] | None = None, why: str = "") -> tuple[str, int]:
        """Run until ``among`` (default: everyone) has an established leader; else fail."""
        start = self.sim.now
        self.sim.run_while(lambda: self.established_leader(among) is None, within)
        found = self.established_leader(among)
        if found is None:
            group = "the cluster" if among is None else "{" + ", ".join(among) + "}"
            raise PropertyViolation(
                LIVENESS, f"{group} had no leader followed by a majority within {within:g} s "
                f"(from t={start:.3f}s{'; ' + why if why else ''}). Nodes: {self.describe()}",
                time=self.sim.now)
        return found

    def agreed_leader(self) -> tuple[str, int] | None:
        """The leader if every up node is in its term and follows it, else None."""
        self.checker.sync()
        views = [v for v in self.checker.views.values() if self.sim.is_up(v.node)]
        leaders = [v for v in views if v.role == "leader"]
        if len(leaders) != 1 or any(v.term != leaders[0].term or v.role == "candidate"
                                    for v in views):
            return None
        return leaders[0].node, leaders[0].term

    def wait_agreement(self, within: float = ELECTION_DEADLINE, why: str = "") -> tuple[str, int]:
        """Run until every up node follows one leader in one term; else fail."""
        start = self.sim.now
        self.sim.run_while(lambda: self.agreed_leader() is None, within)
        found = self.agreed_leader()
        if found is None:
            raise PropertyViolation(
                LIVENESS, f"the nodes did not all follow one leader in one term within "
                f"{within:g} s (from t={start:.3f}s{'; ' + why if why else ''}). Nodes: "
                f"{self.describe()}", time=self.sim.now)
        return found

    def submit(self, node: str, command: Any) -> Operation:
        return self.sim.request(node, {"op": "submit", "command": command})

    def submit_to_leader(self, command: Any, among: Sequence[str] | None = None,
                         within: float = ELECTION_DEADLINE) -> tuple[str, int, int]:
        """Submit to the established leader; returns (leader, index, term) from its reply."""
        leader, _ = self.wait_leader(within, among)
        op = self.submit(leader, command)
        self.sim.run_until_done(op)
        out = op.output or {}
        if not op.ok or type(out.get("index")) is not int or type(out.get("term")) is not int:
            raise AssertionError(
                f"the leader {leader} answered a submit of {command!r} with "
                f"{op.output if op.output is not None else 'nothing (' + op.status + ')'} at "
                f"t={self.sim.now:.3f}s; a leader replies at once with "
                f"{{'index': <int>, 'term': <int>}}")
        return leader, out["index"], out["term"]

    def committed_start(self, command: Any, why: str = "the first election") -> str:
        """The start of most scenarios: a leader is elected and ``command`` is applied on every
        node; returns the leader."""
        leader, _ = self.wait_leader(why=why)
        self.submit_to_leader(command)
        self.wait_applied([command])
        return leader

    def wait_applied(self, commands: Iterable[Any], nodes: Sequence[str] | None = None,
                     within: float = COMMIT_DEADLINE, why: str = "") -> None:
        """Run until every node of ``nodes`` (default all) has applied every command in its
        current run; else fail with who is missing what."""
        nodes = self.nodes if nodes is None else nodes
        commands = list(commands)
        start = self.sim.now

        def missing() -> list[tuple[str, Any]]:
            return [(n, c) for c in commands for n in nodes if not self.applied_in_run(c, n)]

        self.sim.run_while(lambda: bool(missing()), within)
        lacking = missing()
        if lacking:
            node, command = lacking[0]
            raise PropertyViolation(
                LIVENESS, f"{node} had not applied {command!r} {within:g} s after "
                f"t={start:.3f}s ({len(lacking)} (node, command) pairs missing"
                f"{'; ' + why if why else ''}). Nodes: {self.describe()}"
                f"{self._older_term_hint(command)}", time=self.sim.now)

    def _older_term_hint(self, command: Any) -> str:
        """Why a command can sit uncommitted on a healthy cluster: it is an entry of an older
        term on the leader, with no entry of the leader's own term after it (Raft 5.4.2)."""
        found = self.checker.leader()
        if found is None:
            return ""
        leader, term = found
        v = self.checker.views[leader]
        for i, entry in enumerate(v.log, start=1):
            if entry.get("command") == command and i > v.commit:
                if entry.get("term", term) < term and all(e.get("term") != term
                                                         for e in v.log[i - 1:]):
                    return (f"\n{command!r} is entry {i} of leader {leader}'s log, from term "
                            f"{entry.get('term')}, but {leader} leads term {term} and has "
                            f"committed only up to index {v.commit}. A leader never commits an "
                            f"entry of an older term by counting replicas; it commits it by "
                            f"committing an entry of its own term after it (Raft section "
                            f"5.4.2). Is the log of the new leader's own term ever replicated "
                            f"and committed?")
                return ""
        return ""

    def never_applied(self, commands: Iterable[Any], prop: str, why: str) -> None:
        """Fail with ``prop`` if any node ever applied one of ``commands``."""
        for command in commands:
            where = self.applied_ever(command)
            if where:
                raise PropertyViolation(prop, f"{command!r} was applied by "
                                        f"{', '.join(sorted(where))}, but {why}",
                                        time=self.sim.now)

    # ----- liveness after the faults -----------------------------------------------------------

    def await_recovery(self, deadline: float = RECOVERY_DEADLINE) -> float:
        """After a RecoverAll, keep submitting probe commands to the leader (a new one whenever
        the leader changes) until some probe is applied by every node. Returns the time it
        took; fails past ``deadline``."""
        start = self.sim.now
        probes: list[tuple[str, tuple[str, int]]] = []

        def done() -> bool:
            return any(all(self.applied_in_run(cmd, n) for n in self.nodes) for cmd, _ in probes)

        def tick() -> None:
            if done():
                return
            leader = self.checker.leader()
            if leader is not None and (not probes or probes[-1][1] != leader):
                cmd = f"probe-{len(probes) + 1}"
                self.submit(leader[0], cmd)
                probes.append((cmd, leader))
            self.sim.after(0.05, tick)

        tick()
        self.sim.run_while(lambda: not done(), deadline)
        if not done():
            tried = (", ".join(f"{c} to {node} (term {term})" for c, (node, term) in probes)
                     or "none: no leader")
            raise PropertyViolation(
                LIVENESS, f"everything was repaired at t={start:.3f}s (links healed, crashed "
                f"nodes restarted, paused ones resumed), but no command was applied by every "
                f"node by t={start + deadline:.3f}s. Submitted: {tried}. Nodes: "
                f"{self.describe()}", time=self.sim.now)
        return self.sim.now - start

    # ----- the client workload of generated runs -----------------------------------------------

    def workload(self, start: float, end: float, period: float = WORKLOAD_PERIOD) -> None:
        """Submit a fresh command every ``period`` s in [start, end): mostly to a node that
        thinks it leads (stale leaders included), sometimes to anyone."""
        rng = random.Random(f"{self.seed}/workload")
        count = 0

        def tick() -> None:
            nonlocal count
            if self.sim.now >= end:
                return
            count += 1
            leaders = sorted(n for n, _ in self.checker.current_leaders())
            node = rng.choice(leaders) if leaders and rng.random() < 0.8 else rng.choice(self.nodes)
            self.submit(node, f"w{count}")
            self.sim.after(period, tick)

        self.sim.at(start, tick)


def bipartite(c: Cluster, left: Sequence[str], right: Sequence[str]) -> None:
    """Cut every link inside each side, so that a node hears only the other side."""
    for side in (left, right):
        for a in side:
            for b in side:
                if a < b:
                    c.sim.cut(a, b, both_ways=True)


schedules_run = 0   # how many generated fault schedules this session ran (reported at the end)
PHASES = GRADING_PHASES   # the one grading profile's phases (labkit.strategies)


def run_generated(lab: Any, schedule: tuple, seed: int, *, n: int = N, fault_end: float,
                  workload: bool = True, network: NetworkConfig | None = None,
                  budget: ShrinkBudget | None = None) -> None:
    """One generated run: the schedule's faults until ``fault_end`` (with a client workload),
    then RecoverAll and the liveness phase. Safety is checked after every event throughout."""
    global schedules_run
    key = (tuple(schedule), seed)
    if budget is not None and budget.skip(key):
        return
    schedules_run += 1
    try:
        run_schedule(lab, schedule, seed, n=n, fault_end=fault_end, workload=workload,
                     network=network)
    except BaseException:
        if budget is not None:
            budget.failed(key)
        raise


def smoke_run(lab: Any, *, fault_end: float, workload: bool = True) -> None:
    """The same run without any fault, before Hypothesis starts (the kit's
    ``run_without_faults_first``)."""
    run_without_faults_first(lambda: run_schedule(lab, (), 0, fault_end=fault_end,
                                                  workload=workload))


def run_schedule(lab: Any, schedule: tuple, seed: int, *, n: int = N, fault_end: float,
                 workload: bool = True, network: NetworkConfig | None = None) -> Cluster:
    cluster = Cluster(lab, n, seed=seed, network=network)
    full = tuple(schedule) + (RecoverAll(fault_end),)
    cluster.sim.apply_schedule(full)
    if workload:
        cluster.workload(0.3, fault_end)
    with scenario(cluster.sim, seed=seed, schedule=full):
        cluster.sim.run_until(fault_end)
        cluster.await_recovery()
    return cluster


__all__ = ["Cluster", "run_generated", "smoke_run", "ShrinkBudget", "PHASES", "bipartite", "N",
           "ELECTION_DEADLINE", "COMMIT_DEADLINE",
           "RECOVERY_DEADLINE", "WORKLOAD_PERIOD", "LIVENESS", "DUPLICATING"]
