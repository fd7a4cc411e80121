"""Many simulated cameras in one process for the fleet benchmark, with few distinct scenes.

    python -m bench.fleet_cameras --cameras N --base-port B [--scenes 32] [--seed S]

The same cameras, control API and output as ``python -m sitewatch.simulators.camera serve``, but the
cameras' scenes repeat every ``--scenes`` cameras. The simulator keeps the static part of
64 scenes (frames.py, ``_scene``'s cache): with a scene per camera, thousands of cameras in
one process rebuild it at every snapshot, 70-100 ms of CPU instead of 2-3 ms to render
(measured here, 640x360), which would charge the simulator, not Sitewatch, for the fleet's size. The
pictures still change from snapshot to snapshot (moving car, sensor noise), as the product's
picture check expects; only the scenery is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from sitewatch.simulators.camera.control import ControlServer
from sitewatch.simulators.camera.fleet import build
from sitewatch.simulators.camera.spec import CameraSpec, FleetConfig
from sitewatch.simulators.common.cli import serve_until_signalled


async def serve(*, cameras: int, base_port: int, seed: int, scenes: int) -> int:
    width = max(3, len(str(cameras)))
    specs = tuple(
        CameraSpec(camera_id=f"cam-{i + 1:0{width}d}", port=base_port + i, seed=seed + i % scenes,
                   serial_number=f"SIM{seed + i:08d}")
        for i in range(cameras)
    )
    config = FleetConfig(cameras=specs)
    fleet = build(config)

    def describe() -> list[str]:
        return [f"{c.camera_id} {fleet.host}:{fleet.port_of(c.camera_id)} user={c.username}" for c in fleet.cameras]

    return await serve_until_signalled(fleet, ControlServer(fleet, host=config.host, port=0), describe=describe)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet_cameras", description=__doc__.split("\n")[0])
    parser.add_argument("--cameras", type=int, required=True)
    parser.add_argument("--base-port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenes", type=int, default=32, help="distinct scenes, at most 64 (the render cache)")
    args = parser.parse_args(argv)
    return asyncio.run(serve(cameras=args.cameras, base_port=args.base_port, seed=args.seed, scenes=args.scenes))


if __name__ == "__main__":
    sys.exit(main())
