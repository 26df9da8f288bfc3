"""What the grader lends to sandboxed student code (``labkit.sandbox.remote.lendable``).

Student code can read the public attributes of, and call, everything the grader lends it, and
it can forge a frame naming any reference number; so a lent object must lead only to more
lendable objects. These tests need no child process: they drive the grader's codec and its
callback server (``Sandbox.serve``) with the frames a child could send."""

from __future__ import annotations

import json
import os
import pathlib
import random
import sys
from types import SimpleNamespace

import pytest

from graders.lab0_resilience.fakes import FakeClock, Probe, Transient
from labkit.errors import GraderBug
from labkit.sandbox.process import Sandbox
from labkit.sandbox.remote import ParentCodec

LENT = {
    "a fake of the graders": lambda: FakeClock(),
    "a grader exception class": lambda: Transient,
    "a grader exception": lambda: Transient("again"),
    "a seeded random.Random": lambda: random.Random(3),
    "a lambda": lambda: (lambda: 1),
    "a builtin function": lambda: len,
    "a sentinel object()": lambda: object(),
}
REFUSED = {
    "a module": lambda: os,
    "a path": lambda: pathlib.Path("reference"),
    "an open file": lambda: sys.stdout,
    "a class of another package": lambda: json.JSONDecoder,
    "an instance of another package": lambda: json.JSONDecoder(),
}


@pytest.mark.parametrize("what", LENT)
def test_the_graders_objects_functions_and_random_are_lent(what):
    encoded = ParentCodec(None, 0).encode(LENT[what]())
    assert isinstance(encoded, dict) and isinstance(encoded.get("ref"), int), encoded


@pytest.mark.parametrize("what", REFUSED)
def test_anything_else_is_a_grader_bug_not_a_reference(what):
    with pytest.raises(GraderBug, match="the sandbox lends only"):
        ParentCodec(None, 0).encode(REFUSED[what]())


def serve(codec: ParentCodec, frame: dict) -> dict:
    return Sandbox.serve(SimpleNamespace(codec=codec), frame)


def test_a_forged_frame_reaches_no_module_through_a_lent_object():
    """A lent fake that (by a grader's mistake) holds a module: reading it from the child gets
    an error, never a reference; its plain attributes and methods still work."""
    codec = ParentCodec(None, 0)
    clock = FakeClock(5.0)
    clock.os = os
    ref = codec.encode(clock)["ref"]
    reply = serve(codec, {"op": "getattr", "ref": ref, "name": "os"})
    assert "err" in reply and "ok" not in reply, reply
    assert "GraderBug" in json.dumps(reply) and "builtins.module" in json.dumps(reply)
    assert serve(codec, {"op": "getattr", "ref": ref, "name": "now"}) == {"ok": 5.0}
    assert serve(codec, {"op": "callm", "ref": ref, "name": "advance", "a": [1.5]}) == \
        {"ok": None}
    assert clock.now == 6.5
    for name in ("__class__", "__dict__", "_secret"):
        reply = serve(codec, {"op": "getattr", "ref": ref, "name": name})
        assert "err" in reply, (name, reply)


def test_every_public_attribute_of_a_used_probe_can_be_read():
    """A ``Probe`` lent by Lab 0's graders, after one call that returned and one that raised:
    each public attribute the child may read (outcomes with their exception classes, the
    values returned, the exceptions raised, the count) comes back, none refused."""
    codec = ParentCodec(None, 0)
    probe = Probe(["ok", Transient])
    probe()
    with pytest.raises(Transient):
        probe()
    ref = codec.encode(probe)["ref"]
    names = [n for n in dir(probe) if not n.startswith("_")]
    assert names == ["calls", "outcomes", "raised", "returned"]
    for name in names:
        reply = serve(codec, {"op": "getattr", "ref": ref, "name": name})
        assert "ok" in reply, (name, reply)
