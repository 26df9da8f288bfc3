"""labkit.contract: each check returns the JSON text or raises ContractError with the sentence
every runtime shows (the simulator, the live runtime and the sandbox child call these)."""

from __future__ import annotations

import pytest

from labkit import ContractError, Node, Request, Simulation, StudentCodeError
from labkit import contract

NODES = ("n1", "n2", "n3")


def test_send_returns_compact_json():
    assert contract.send("n1", "n2", {"type": "x", "v": [1, 2.5, None]}, NODES) == \
        '{"type":"x","v":[1,2.5,null]}'
    assert contract.send("n1", "n1", {}, NODES) == "{}", "a node may send to itself"


def test_send_to_a_stranger_lists_the_nodes():
    with pytest.raises(ContractError, match=r"^n1 sent to 'n9', which is not a node; "
                                            r"nodes are n1, n2, n3$"):
        contract.send("n1", "n9", {}, NODES)
    with pytest.raises(ContractError, match="nodes are n1, n2, n3$"):   # a set: sorted
        contract.send("n1", "n9", {}, frozenset(("n3", "n1", "n2")))


def test_send_needs_a_json_dict():
    with pytest.raises(ContractError, match=r"^n1 sent \[1\] to n2: a message must be a dict$"):
        contract.send("n1", "n2", [1], NODES)
    with pytest.raises(ContractError, match=r"the message n1 sent to n2 is not JSON "
                                            r"\(field \['when'\] = object\)"):
        contract.send("n1", "n2", {"when": object()}, NODES)
    with pytest.raises(ContractError, match="not JSON"):
        contract.send("n1", "n2", {"x": float("nan")}, NODES)


def test_reply_is_checked_once_per_request():
    request = Request(3, "client", {"op": "get"})
    requests = {3: {"op": "get"}}
    assert contract.reply("n1", request, {"ok": True}, requests, set()) == '{"ok":true}'
    with pytest.raises(ContractError, match=r"^n1 replied twice to op#3 \{'op': 'get'\}; "
                                            r"answer each request exactly once$"):
        contract.reply("n1", request, {"ok": True}, requests, {3})
    with pytest.raises(ContractError, match=r"replied twice to op#3 \{'op': 'get'\}"):
        contract.reply("n1", request, {}, {3: '{"op":"get"}'}, {3})   # bodies as JSON text


def test_reply_to_something_else():
    with pytest.raises(ContractError, match=r"^n1 replied to 'hello', which is not a client "
                                            r"request$"):
        contract.reply("n1", "hello", {}, {}, set())
    with pytest.raises(ContractError, match="which is not a client request"):
        contract.reply("n1", Request(9, "client", {}), {}, {3: {}}, set())
    with pytest.raises(ContractError, match=r"^n1 replied 'ok' to op#3: a reply must be a dict$"):
        contract.reply("n1", Request(3, "client", {}), "ok", {3: {}}, set())


def test_timer_name_delay_and_data():
    assert contract.timer("n1", "tick", 0.5, {}) is None
    assert contract.timer("n1", "tick", 0, {"k": 1}) == '{"k":1}'
    with pytest.raises(ContractError, match=r"^n1: timer names are strings, got 7$"):
        contract.timer("n1", 7, 1.0, {})
    for bad in (-1, float("nan"), "1"):
        with pytest.raises(ContractError, match=r"^n1: timer 'tick' needs a delay >= 0 seconds"):
            contract.timer("n1", "tick", bad, {})
    with pytest.raises(ContractError, match=r"the data of timer 'tick' of n1 is not JSON"):
        contract.timer("n1", "tick", 1.0, {"f": print})


def test_apply_needs_json():
    assert contract.apply("n1", 4, ["set", "x", 1]) == '["set","x",1]'
    with pytest.raises(ContractError, match="the command n1 applied at index 4 is not JSON"):
        contract.apply("n1", 4, {1, 2})


def test_the_simulator_shows_the_same_sentence_at_the_students_line():
    class Stray(Node):
        def on_start(self):
            self.send("nowhere", {"type": "x"})

    with pytest.raises(StudentCodeError) as info:
        Simulation(Stray, 2).run_until(0.1)
    text = str(info.value)
    assert "n1 broke the node contract" in text
    assert "n1 sent to 'nowhere', which is not a node; nodes are n1, n2" in text
    assert "test_contract.py" in info.value.where
