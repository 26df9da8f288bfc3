"""A tiny grader suite used by tests/test_grading.py to exercise the grading plugin.

Copied into a temporary folder as graders/lab1_cap/test_fake.py; never collected from here
(tests/fakelab has no test_*.py discovery in the project's own run: see conftest ignore)."""

import pytest
from hypothesis import given

from labkit import PropertyViolation, Simulation
from labkit.grading import require
from labkit.grading.scenario import scenario
from labkit.strategies import fault_schedules, grading_settings, seeds


@pytest.mark.points(10)
def test_counter_reaches_three(lab):
    """The counter reaches three within a second"""
    Counter = require(lab, "Counter")
    for seed in range(3):
        sim = Simulation(Counter, 2, seed=seed)
        with scenario(sim, seed=seed):
            sim.run_until(1.0)
            for n, obj in sim.live_nodes():
                if obj.count < 3:
                    raise PropertyViolation("counter reaches three", f"{n} has {obj.count}",
                                            time=sim.now)


@pytest.mark.points(5)
@grading_settings(max_examples=25)
@given(schedule=fault_schedules(("n1", "n2"), end=1.0, kinds=("crash", "restart")), seed=seeds())
def test_never_negative(lab, schedule, seed):
    """The counter never goes negative, whatever crashes"""
    Counter = require(lab, "Counter")
    sim = Simulation(Counter, 2, seed=seed)
    sim.check_always("counter is never negative",
                     lambda s: next((f"{n} has count {o.count}" for n, o in s.live_nodes()
                                     if o.count < 0), None))
    with scenario(sim, seed=seed, schedule=schedule):
        sim.apply_schedule(schedule)
        sim.run_until(1.5)
