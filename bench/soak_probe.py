"""``sitewatch`` with a count of its asyncio tasks, for the soak (bench/soak.py).

    python -m bench.soak_probe OUT_FILE run --config FILE ...

The service reports no task count (neither /metrics nor /healthz), and no outside tool here can
read one (py-spy is not installed). So this runs the very same command line
(``sitewatch.cli.main``) after installing an event-loop policy that remembers the loops it
makes; a daemon thread appends, every ``PROBE_EVERY_S``, one JSON line to OUT_FILE: the time
and ``len(asyncio.all_tasks(loop))`` for the service's loop (the public call, which may be made
from another thread given the loop). Nothing else of the process is touched.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time

PROBE_EVERY_S = 2.0


class _RememberingPolicy(asyncio.DefaultEventLoopPolicy):
    def __init__(self) -> None:
        super().__init__()
        self.loops: list[asyncio.AbstractEventLoop] = []

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        self.loops.append(loop)
        return loop


def _probe(policy: _RememberingPolicy, path: str) -> None:
    while True:
        time.sleep(PROBE_EVERY_S)  # not Event.wait: it never returns under faketime
        loops = [loop for loop in policy.loops if not loop.is_closed()]
        if not loops:
            continue
        try:
            tasks = sum(len(asyncio.all_tasks(loop)) for loop in loops)
        except RuntimeError:  # the task set changed size while copied 1000 times: skip this probe
            continue
        with open(path, "a") as out:
            out.write(json.dumps({"t": time.time(), "tasks": tasks, "threads": threading.active_count()}) + "\n")


def main() -> int:
    out_file, argv = sys.argv[1], sys.argv[2:]
    policy = _RememberingPolicy()
    asyncio.set_event_loop_policy(policy)
    threading.Thread(target=_probe, args=(policy, out_file), name="soak-task-probe", daemon=True).start()
    from sitewatch.cli import main as sitewatch_main

    return sitewatch_main(argv)


if __name__ == "__main__":
    sys.exit(main())
