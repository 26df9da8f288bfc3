"""The node contract: what a node may ask of its runtime, checked in one place.

Every runtime (the simulator, the live process, the sandbox child) calls these pure checks
before it acts on a node's request, so a node breaks the contract with the same sentence
wherever it runs. Each check returns the JSON text the runtime carries on with, or raises
``ContractError`` at the student's line:

* ``send``: the destination is a node of the run (the sender itself included) and the
  message is a JSON dict;
* ``reply``: the request is a client request the node was given, the body is a JSON dict,
  and the request has not been answered yet (exactly once);
* ``timer``: the name is a string, the delay a number >= 0 seconds, the data JSON;
* ``apply``: the command is JSON.

The runtimes keep the facts (which nodes exist, which requests were delivered, which were
answered); these functions only judge.
"""

from __future__ import annotations

from typing import Any, Collection, Container, Mapping

from .errors import ContractError
from .jsoncopy import encode as _encode
from .jsoncopy import loads as _loads
from .node import Request
from .storage import to_json

__all__ = ["send", "reply", "timer", "apply"]


def send(src: str, dst: str, msg: Any, nodes: Collection[str]) -> str:
    """The JSON text of ``msg`` sent by ``src`` to ``dst``. ``nodes``: every node of the run,
    in the order the sentence lists them (sorted when it is a set)."""
    if dst not in nodes:
        listed = sorted(nodes) if isinstance(nodes, (set, frozenset)) else nodes
        raise ContractError(f"{src} sent to {dst!r}, which is not a node; nodes are "
                            f"{', '.join(listed)}")
    if type(msg) is not dict:
        raise ContractError(f"{src} sent {msg!r} to {dst}: a message must be a dict")
    try:
        return "".join(_encode(msg, 0))
    except (TypeError, ValueError, RecursionError):
        return to_json(msg, f"the message {src} sent to {dst}")  # raises, naming the field


def reply(src: str, request: Any, body: Any, requests: Mapping[int, Any],
          replied: Container[int]) -> str:
    """The JSON text of ``body``, the reply of ``src`` to ``request``.

    ``requests`` maps the id of every request handed to the node to its body as the client
    sent it (a dict, or its JSON text); ``replied`` holds the ids already answered."""
    rid = getattr(request, "id", None)
    if not isinstance(request, Request) or rid not in requests:
        raise ContractError(f"{src} replied to {request!r}, which is not a client request")
    if type(body) is not dict:
        raise ContractError(f"{src} replied {body!r} to op#{rid}: a reply must be a dict")
    if rid in replied:
        sent = requests[rid]
        sent = _loads(sent) if isinstance(sent, str) else sent
        raise ContractError(f"{src} replied twice to op#{rid} {sent}; "
                            f"answer each request exactly once")
    try:
        return "".join(_encode(body, 0))
    except (TypeError, ValueError, RecursionError):
        return to_json(body, f"the reply of {src} to op#{rid}")  # raises, naming the field


def timer(src: str, name: Any, delay: Any, data: Mapping[str, Any]) -> str | None:
    """The JSON text of the timer's ``data``, or None when it has none."""
    if not isinstance(name, str):
        raise ContractError(f"{src}: timer names are strings, got {name!r}")
    if not isinstance(delay, (int, float)) or delay != delay or delay < 0:
        raise ContractError(f"{src}: timer {name!r} needs a delay >= 0 seconds, got {delay!r}")
    if not data:
        return None
    try:
        return "".join(_encode(data, 0))
    except (TypeError, ValueError, RecursionError):
        return to_json(data, f"the data of timer {name!r} of {src}")  # raises, naming the field


def apply(src: str, index: Any, command: Any) -> str:
    """The JSON text of ``command``, applied by ``src`` at ``index``."""
    return to_json(command, f"the command {src} applied at index {index}")
