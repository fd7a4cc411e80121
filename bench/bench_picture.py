"""Snapshots judged per second: JPEG decode + measures + verdict, one core.

    python -m bench.bench_picture [--width 640] [--height 480] [--snapshots 400] [--cameras 20]

The snapshots are rendered and encoded first (not timed): day and night cameras, a fifth
of the snapshots with a picture fault. Then every snapshot goes through its camera's
PictureChecker.check, as the ONVIF poller does; decode alone is timed too.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta

from sitewatch.collector.onvif.picture import PictureChecker, decode_jpeg
from sitewatch.domain.time import UTC
from sitewatch.simulators.camera.frames import FRAME_FAULTS, FrameFault, SceneSpec, encode_jpeg, render

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--snapshots", type=int, default=400)
    parser.add_argument("--cameras", type=int, default=20)
    parser.add_argument("--quality", type=int, default=80)
    args = parser.parse_args(argv)

    snapshots: list[tuple[int, bytes]] = []
    for i in range(args.snapshots):
        camera = i % args.cameras
        spec = SceneSpec(seed=camera, lighting="night" if camera % 2 else "day", width=args.width, height=args.height)
        at = T0 + timedelta(seconds=10 * i)
        faults = [FrameFault(FRAME_FAULTS[i % len(FRAME_FAULTS)], at)] if i % 5 == 4 else []
        snapshots.append((camera, encode_jpeg(render(spec, at=at, faults=faults), quality=args.quality)))
    size_kb = sum(len(data) for _, data in snapshots) / len(snapshots) / 1024

    start = time.perf_counter()
    for _, data in snapshots:
        decode_jpeg(data)
    decode_s = time.perf_counter() - start

    checkers = {c: PictureChecker(asset_id=f"cam-{c}") for c in range(args.cameras)}
    start = time.perf_counter()
    for camera, data in snapshots:
        checkers[camera].check(data, ts=T0)
    total_s = time.perf_counter() - start

    n = len(snapshots)
    print(f"{n} snapshots of {args.width}x{args.height}, JPEG quality {args.quality}, {size_kb:.0f} KiB each")
    print(f"decode only      {n / decode_s:8.0f} /s  ({1000 * decode_s / n:.2f} ms each)")
    print(f"decode + judge   {n / total_s:8.0f} /s  ({1000 * total_s / n:.2f} ms each)")


if __name__ == "__main__":
    main()
