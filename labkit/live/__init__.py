"""Live mode: the same student nodes as real processes on localhost.

* ``runtime.py``: one node process (the student's class over real time and sockets, asyncio);
* ``router.py``: the process all node-to-node messages pass through, where partitions, one-way
  cuts, loss, duplication and delay are applied;
* ``storage.py``: durable storage as one file per node, replaced atomically and fsynced;
* ``cluster.py``: start, kill, restart, pause and resume processes, drive the router, and
  clean everything up (what graders and the demo use);
* ``labs.py``: per-lab specs: the node class and the HTTP routes clients call;
* ``grading.py``: the ``cluster`` fixture and failure context of the live grader tests;
* ``toy.py``: a tiny node that labkit's own tests run live;
* ``control.py`` and ``status.html``: the demo's control API and its status page;
* ``__main__.py``: ``python -m labkit.live lab1`` (what ``nox -s demo -- lab1`` runs).

See ``assignments/live.md`` for the routes of every lab and what to try.
"""

__all__ = ["Cluster", "LiveError", "NodeError", "Reply"]


def __getattr__(name: str):
    # Lazy, so that a node process (``python -m labkit.live.runtime``) imports only what it uses.
    if name in __all__:
        from . import cluster
        return getattr(cluster, name)
    raise AttributeError(f"module 'labkit.live' has no attribute {name!r}")
