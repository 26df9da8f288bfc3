"""``python -m labkit.live lab1`` (what ``nox -s demo -- lab1`` runs): a live cluster of real
processes on localhost, the lab's HTTP routes on ports 5001.., a status page and fault control
on port 5000. Ctrl-C stops every process."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from ..errors import SubmissionError
from ..grading.labs import REPO, find_lab
from ..grading.loader import resolve_impl
from ..simulator import display_path
from .cluster import Cluster, LiveError, port_is_free
from .labs import live_lab, live_labs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="nox -s demo --", description=__doc__.split("\n\n")[0].replace("\n", " "),
        epilog="labs with a live mode: " + ", ".join(
            find_lab(p).short for p in live_labs()) + ". Routes: assignments/live.md")
    parser.add_argument("lab", help="a lab's short name (e.g. lab1) or its package name")
    parser.add_argument("--impl", default="starter",
                        help="starter (default), reference, or a folder laid out like starter/")
    parser.add_argument("--nodes", type=int, default=None,
                        help="how many nodes (default: the lab's, usually 3; see "
                             "assignments/live.md)")
    parser.add_argument("--port-base", type=int, default=5001,
                        help="node i listens on PORT_BASE + i - 1 (default 5001)")
    parser.add_argument("--control-port", type=int, default=None,
                        help="status page and fault control (default PORT_BASE - 1, i.e. 5000)")
    parser.add_argument("--data-dir", default=None,
                        help="storage files and logs (default reports/live/<lab>/; the "
                             "previous ones are removed at start unless --keep-data)")
    parser.add_argument("--keep-data", action="store_true",
                        help="start from the storage files a previous demo left")
    parser.add_argument("--seed", type=int, default=0, help="seeds every node's self.rng")
    parser.add_argument("--snapshot-every", type=int, default=0, metavar="N",
                        help="each node's state machine asks for a snapshot after every N-th "
                             "applied index (Lab 2 part 7; default 0: never)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        lab = find_lab(args.lab)
        spec = live_lab(lab.package)
        impl = resolve_impl(args.impl)
    except (ValueError, SubmissionError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    if not (impl / lab.package).is_dir():
        print(f"demo: {display_path(str(impl))} has no {lab.package}/ folder", file=sys.stderr)
        return 2
    nodes = args.nodes or spec.nodes
    if not 1 <= nodes <= 9:
        print("demo: --nodes must be between 1 and 9", file=sys.stderr)
        return 2
    control_port = args.control_port if args.control_port is not None else args.port_base - 1
    if control_port in range(args.port_base, args.port_base + len(spec.names(nodes))):
        print(f"demo: --control-port {control_port} collides with the nodes' ports",
              file=sys.stderr)
        return 2
    if not port_is_free(control_port):
        print(f"demo: port {control_port} (status page and fault control) is already in use. "
              f"Stop what uses it, or choose another with --control-port (on macOS the AirPlay "
              f"Receiver takes 5000: try --control-port 5100)", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir) if args.data_dir else REPO / "reports" / "live" / lab.package
    if not args.keep_data:  # only the files a cluster writes, never anything else in the folder
        for name in [*spec.names(nodes), "router"]:
            for suffix in (".json", ".json.tmp", ".log", ".ready", ".ready.tmp"):
                (data_dir / f"{name}{suffix}").unlink(missing_ok=True)
    cluster = Cluster(lab.package, impl, nodes=nodes, port_base=args.port_base,
                      data_dir=data_dir, seed=args.seed, snapshot_every=args.snapshot_every)
    print(f"Starting {lab.short} ({lab.package} from {display_path(str(impl))}/): "
          f"{nodes} node processes and a router ...", flush=True)
    try:
        cluster.start()
    except (LiveError, SubmissionError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while starting: start() has already cleaned up
        print("\nStopped before the cluster was up.", flush=True)
        return 130
    try:
        return asyncio.run(serve(cluster, control_port))
    finally:
        cluster.close()
        print("Stopped: every process of the cluster is gone.", flush=True)


def banner(cluster: Cluster, control_port: int) -> str:
    spec = cluster.spec
    first, last = cluster.node_ids[0], cluster.node_ids[-1]
    lines = ["", "Nodes (the lab's routes, JSON replies):"]
    lines += [f"  {n}  {cluster.url(n)}/" for n in cluster.node_ids]
    lines += ["", f"Status page and fault control: http://localhost:{control_port}/   "
                  f"(API: http://localhost:{control_port}/api)", "", "Try:"]
    for index, path in spec.try_it():
        node = cluster.node_ids[min(index, len(cluster.node_ids) - 1)]
        lines.append(f"  curl '{cluster.url(node, path)}'")
    ctl = f"localhost:{control_port}/api"
    lines += [f"  curl -X POST {ctl}/isolate/{last}        # cut {last} off through the router",
              f"  curl -X POST {ctl}/heal",
              f"  curl -X POST {ctl}/kill/{first}           # SIGKILL; /restart/{first} brings it "
              f"back with its storage",
              "", f"Storage files and logs: {display_path(str(cluster.data_dir))}/ "
                  f"(<node>.json, <node>.log)",
              "Ctrl-C stops everything."]
    return "\n".join(lines)


async def serve(cluster: Cluster, control_port: int) -> int:
    from aiohttp import web  # here, so that --help works without the live dependencies

    from .control import control_app

    runner = web.AppRunner(control_app(cluster), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", control_port, reuse_address=True).start()
    except OSError as exc:
        print(f"demo: cannot listen on port {control_port}: {exc.strerror or exc}. Choose "
              f"another with --control-port", file=sys.stderr)
        await runner.cleanup()
        return 1
    print(banner(cluster, control_port), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("\nStopping ...", flush=True)
    cluster.close()
    await runner.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
