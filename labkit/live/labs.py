"""Live specs: which class each node runs, and the HTTP routes clients call.

Each lab with a live mode declares its spec in ``graders/<package>/live.py`` (``LIVE =
LiveLab(...)``); this module holds the types, the parameter helpers and the lookup. A route
turns an HTTP request into the request body the lab's contract defines, so that
``curl localhost:5001/set/k/v?consistency=strong`` reaches ``on_request`` as
``{"op": "set", "key": "k", "value": "v", "consistency": "strong"}``, exactly what the graders
send in simulation. The node's reply comes back as the JSON body of the HTTP response.

Every route answers GET and POST. Path parameters are URL-decoded (``/set/a%2Fb/1`` sets the
key ``a/b``). A bad query parameter is answered ``400`` by the runtime, before the node sees it.
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..node import Node
from ..simulator import node_names

Params = Mapping[str, str]


class BadRequest(ValueError):
    """A route's parameters are not what the lab accepts (answered with HTTP 400)."""


@dataclass(frozen=True)
class Route:
    """One client operation over HTTP. ``path`` uses aiohttp's ``{name}`` placeholders;
    ``build(path_params, query)`` returns the request body for ``on_request``."""

    path: str
    build: Callable[[Params, Params], dict]
    doc: str
    example: str


@dataclass(frozen=True)
class LiveLab:
    """What the live runtime needs to know about a lab.

    ``node_class`` names the class in ``package`` the nodes run (``classes`` overrides it per
    node id, e.g. a load balancer in front of cache nodes); ``names(n)`` gives the node ids for
    ``--nodes n``; ``describe(node)`` returns the few fields the status page shows (role,
    term, ...), read from the node object. ``client_timeout`` is how long an HTTP request
    waits for the node's reply before the client gets ``504`` (outcome unknown)."""

    package: str
    node_class: str
    routes: tuple[Route, ...]
    describe: Callable[[Node], dict] = field(default=lambda node: describe_node(node))
    client_timeout: float = 5.0
    nodes: int = 3
    examples: tuple[tuple[int, str], ...] = ()   # (node index, path): what the demo suggests
    names: Callable[[int], tuple[str, ...]] = node_names
    classes: Mapping[str, str] = field(default_factory=dict)

    def class_for(self, node: str) -> str:
        return self.classes.get(node, self.node_class)

    def try_it(self) -> tuple[tuple[int, str], ...]:
        return self.examples or tuple((0, r.example) for r in self.routes)


def choice(query: Params, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = query.get(name, default)
    if value not in allowed:
        raise BadRequest(f"{name}={value!r} is not one of: {', '.join(allowed)}")
    return value


def consistency(query: Params) -> str:
    return choice(query, "consistency", ("eventual", "strong"), "eventual")


def seconds(query: Params, name: str) -> dict:
    """``{name: float}`` if the query has a positive number there, ``{}`` if it has none."""
    if name not in query:
        return {}
    try:
        value = float(query[name])
    except ValueError:
        raise BadRequest(f"{name}={query[name]!r} is not a number of seconds") from None
    if not value > 0:
        raise BadRequest(f"{name} must be > 0 seconds, got {value:g}")
    return {name: value}


# ----- reading role and term off a node object (for the status page) ----------------------------

def scalar(value: Any) -> Any:
    """A plain value (an enum's value), or None for anything else."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return None


def describe_node(node: Node, names: tuple[str, ...] = ()) -> dict:
    """Role, term and leader of a node if it has such attributes (any common spelling), plus
    the attributes in ``names``; only plain values are shown."""
    out: dict[str, Any] = {}
    for key, candidates in (("role", ("role", "state")),
                            ("term", ("term", "current_term", "currentTerm")),
                            ("leader", ("leader", "leader_id", "leader_hint")),
                            ("commit_index", ("commit_index", "commitIndex"))):
        for attr in candidates:
            value = scalar(getattr(node, attr, None))
            if value is not None:
                out[key] = value
                break
    for attr in names:
        value = getattr(node, attr, None)
        if isinstance(value, (dict, list, tuple, set)):
            out[attr] = len(value)
        elif scalar(value) is not None:
            out[attr] = scalar(value)
    return out


# ----- the labs' live specs, from graders/<package>/live.py ----------------------------------------

def live_labs() -> dict[str, LiveLab]:
    """Every discovered lab with a live mode, by package name (in course order)."""
    from ..grading.labs import labs
    return {lab.package: live_lab(lab.package) for lab in labs() if lab.has_live}


def live_lab(package: str) -> LiveLab:
    """The ``LIVE`` spec of ``graders/<package>/live.py``, or a ValueError that lists the labs
    that have one."""
    from ..grading.labs import by_name, load_file
    lab = by_name().get(package)
    if lab is None or not lab.has_live:
        with_live = [lab.package for lab in by_name().values() if lab.has_live]
        raise ValueError(f"{package} has no live mode; labs with one: "
                         f"{', '.join(sorted(set(with_live)))}")
    spec = getattr(load_file(lab.grader_dir / "live.py"), "LIVE", None)
    if not isinstance(spec, LiveLab) or spec.package != package:
        raise TypeError(f"graders/{package}/live.py must define LIVE = LiveLab(package="
                        f"{package!r}, ...)")
    return spec


def load_spec(ref: str) -> LiveLab:
    """A lab package name (its ``graders/<package>/live.py``) or ``module:NAME`` (any
    LiveLab, e.g. labkit.live.toy:TOY)."""
    if ":" in ref:
        module, _, name = ref.partition(":")
        spec = getattr(importlib.import_module(module), name, None)
        if not isinstance(spec, LiveLab):
            raise ValueError(f"{ref} is not a LiveLab")
        return spec
    return live_lab(ref)
