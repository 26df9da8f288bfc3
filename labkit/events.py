"""Events: what happened in a run, as records with named fields.

Every step of a simulation (a delivery, a timer, a client request, a fault, a log line, an
apply) emits ``Event`` records. The trace keeps them all; a checker or a grader that wants to
react to them subscribes (``Simulation.subscribe``) and reads fields by name:

    def count_votes(sim, ev):
        if ev.kind == SEND and '"request_vote"' in ev.detail:
            ...
    sim.subscribe(count_votes)

Fields:

* ``time``: virtual seconds; ``kind``: one of ``KINDS``;
* ``node``: the node the event happened at (the sender of a ``send``); ``peer``: the other
  node (the destination of a ``send``, the sender of a ``deliver``, a request's client), or "";
* ``detail``: a short string (message JSON, timer name, log text, fault description);
* ``ref``: the message id linking ``send``/``deliver``/``drop``, an operation id, an applied
  index, or None.

An ``Event`` is a tuple, so ``repr(tuple(ev))`` is what the trace digest hashes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

SEND, DELIVER, DROP = "send", "deliver", "drop"
TIMER, REQUEST, REPLY, TIMEOUT = "timer", "request", "reply", "timeout"
START, RESTART, CRASH, PAUSE, RESUME = "start", "restart", "crash", "pause", "resume"
FAULT, LOG, APPLY, STATE, ERROR = "fault", "log", "apply", "state", "error"

KINDS = (SEND, DELIVER, DROP, TIMER, REQUEST, REPLY, TIMEOUT, CRASH, RESTART, PAUSE, RESUME,
         FAULT, LOG, APPLY, ERROR, START, STATE)

#: the kinds after which a node may have changed its state (it ran a handler or booted)
HANDLED = frozenset((DELIVER, TIMER, REQUEST, START, RESTART))


class Event(NamedTuple):
    time: float
    kind: str
    node: str
    peer: str
    detail: str
    ref: Any
