"""How a live child process (a node or the router) ends: on SIGTERM or SIGINT, or when the
cluster manager that started it is gone (the child became an orphan)."""

from __future__ import annotations

import asyncio
import os
import signal


async def run_until_stopped(parent: int, poll: float = 0.5) -> None:
    """Return once this process gets SIGTERM/SIGINT or its parent is no longer ``parent``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), poll)
        except asyncio.TimeoutError:
            if os.getppid() != parent:
                return
