"""CPU per steady camera poll (sitewatch.collector.onvif), this tree against another, measured alternately.

    python -m bench.bench_camera_poll [--cameras 100] [--base-port 26000] [--runs 3]
                                      [--baseline /tmp/onvifbase] [--window-s 20] [--in-flight 20]

The method of deploy/SIZING.md, "Where a camera poll's CPU goes". ``bench.fleet_cameras`` serves
the cameras from its own process (its CPU is not counted). Each measurement is a fresh process
that builds one ``OnvifPoller`` per camera as ``sitewatch/jobs.py`` does (one shared
``OnvifClients``, default endpoint: snapshot and events; no snapshot kept on disk), polls every
camera once (inventory, URIs, subscription: the first poll), then keeps ``--in-flight`` polls
going, cameras in turn, and divides ``time.process_time()`` over ``--window-s`` by the polls
completed in it: milliseconds of CPU per steady poll.

``--baseline TREE`` (e.g. ``git archive HEAD | tar -x -C /tmp/onvifbase`` before a change) also
measures TREE's ``collector`` package, alternating with this tree run by run, because the
machine is shared and only figures taken side by side compare. Both use this interpreter and its
installed libraries. ``--simulator-tree`` serves the cameras from another tree's simulator.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
USERNAME, PASSWORD = "admin", "sitewatch"  # simulators/camera/spec.py's defaults


async def _measure(*, cameras: int, base_port: int, in_flight: int, window_s: float) -> dict:
    """Child side: the collector imported from PYTHONPATH's tree (see ``_run_child``)."""
    import sitewatch.collector.onvif.client as client_module
    from sitewatch.collector.errors import CollectorError
    from sitewatch.collector.onvif.client import OnvifClients
    from sitewatch.collector.onvif.config import OnvifEndpoint
    from sitewatch.collector.onvif.poller import OnvifPoller
    from sitewatch.collector.timestamps import TimestampWindow
    from sitewatch.domain.time import UTC, SystemClock

    clock = SystemClock()
    clients = OnvifClients(clock=clock)
    pollers = [
        OnvifPoller(asset_id=f"cam-{i}", endpoint=OnvifEndpoint(host="127.0.0.1", port=base_port + i, credential="c"),
                    credentials=lambda: (USERNAME, PASSWORD), clients=clients, clock=clock, window=TimestampWindow())
        for i in range(cameras)
    ]
    failures: dict[str, list] = {}  # kind -> [count, first message]

    async def poll(poller: OnvifPoller) -> None:
        try:
            result = await poller.poll(clock.now().astimezone(UTC))
            errors = result.errors
        except CollectorError as exc:  # counted and shown: a failing poll costs less and would flatter the figure
            errors = (exc,)
        for error in errors:
            failures.setdefault(type(error).__name__, [0, str(error)[:200]])[0] += 1

    turn = iter(pollers)

    async def worker(until: float | None) -> int:
        done = 0
        for poller in turn:
            await poll(poller)
            done += 1
            if until is not None and time.monotonic() >= until:
                break
        return done

    started = time.process_time()
    await asyncio.gather(*(worker(None) for _ in range(in_flight)))
    first_ms = (time.process_time() - started) * 1000 / cameras
    first_failures = sum(count for count, _ in failures.values())
    turn = itertools.cycle(pollers)
    cpu0, end = time.process_time(), time.monotonic() + window_s
    polls = sum(await asyncio.gather(*(worker(end) for _ in range(in_flight))))
    cpu_s = time.process_time() - cpu0
    for poller in pollers:
        await poller.close()
    await clients.aclose()
    return {"collector": str(Path(client_module.__file__).parents[2]), "polls": polls, "cpu_s": round(cpu_s, 3),
            "ms_per_poll": round(cpu_s * 1000 / polls, 2), "first_poll_ms": round(first_ms, 1),
            "first_poll_failures": first_failures, "failures": failures}


def _run_child(tree: Path, args: argparse.Namespace) -> dict:
    # Run by path, not -m: sys.path[0] is then bench/, and `collector` comes from PYTHONPATH's tree.
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--cameras", str(args.cameras),
               "--base-port", str(args.base_port), "--in-flight", str(args.in_flight), "--window-s", str(args.window_s)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _start_simulator(args: argparse.Namespace) -> subprocess.Popen:
    simulator = subprocess.Popen(
        [sys.executable, "-m", "bench.fleet_cameras", "--cameras", str(args.cameras), "--base-port", str(args.base_port)],
        cwd=args.simulator_tree, stdout=subprocess.PIPE, text=True,
    )
    for line in simulator.stdout:  # the cameras, then "control <url>" once every port is bound
        if line.startswith("control "):
            # Keep reading what it prints, so that a full pipe never stalls its cameras.
            threading.Thread(target=simulator.stdout.read, daemon=True).start()
            return simulator
    raise RuntimeError(f"simulator exited with {simulator.wait()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_camera_poll", description=__doc__.split("\n")[0])
    parser.add_argument("--cameras", type=int, default=100)
    parser.add_argument("--base-port", type=int, default=26000)
    parser.add_argument("--in-flight", type=int, default=20)
    parser.add_argument("--window-s", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another tree whose collector is measured alternately")
    parser.add_argument("--simulator-tree", type=Path, default=HERE)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        figures = asyncio.run(_measure(cameras=args.cameras, base_port=args.base_port, in_flight=args.in_flight,
                                       window_s=args.window_s))
        print(json.dumps(figures))
        return 0
    trees = {"baseline": args.baseline, "this tree": HERE} if args.baseline else {"this tree": HERE}
    results: dict[str, list[float]] = {name: [] for name in trees}
    simulator = _start_simulator(args)
    try:
        for run in range(args.runs):
            for name, tree in trees.items():
                figures = _run_child(tree, args)
                results[name].append(figures["ms_per_poll"])
                print(f"run {run + 1} {name:9}: {json.dumps(figures)}", flush=True)
    finally:
        simulator.terminate()
        try:
            simulator.wait(timeout=30)
        except subprocess.TimeoutExpired:  # seen with 2,000 cameras: SIGTERM did not end it
            simulator.kill()
            simulator.wait()
    for name, values in results.items():
        print(f"{name:9}: ms CPU per steady poll, median {statistics.median(values):.1f} of {values}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
