"""Camera clock checks/s through sitewatch.collector.onvif (zeep) vs a bare SOAP POST (httpx), same run.

    python -m bench.bench_onvif [--cameras 20] [--seconds 5] [--warmup-s 1]

N ipycam 1.3 cameras (an independent ONVIF implementation) run in a subprocess — this
module with ``--serve-ipycam N`` — bound to 127.0.0.1, so their CPU is not charged to this
process. (simulators/camera was tried first: on a kept-alive connection each of its
replies takes ≈44 ms, a delayed-ACK stall, which hides the client's cost.) ipycam demands
a WS-UsernameToken even for GetSystemDateAndTime, so both sides sign. Against it, in this
process and one after the other, one task per camera calls GetSystemDateAndTime in a loop:

- zeep: ``CameraClient.system_time()`` with ``auth_for_time`` (one signed call), the reply
  decoded by ``camera_utc`` — the path a poll takes;
- bare: ``httpx.AsyncClient.post`` of the same request with a token computed by hand
  (hashlib), reply bytes read, not parsed.

Then, one camera, sequential calls: milliseconds per call for both (the latency figure).
And the WSDL cost: N cameras' first calls with one shared ``OnvifClients`` vs one
``OnvifClients`` per camera (each parses devicemgmt.wsdl again).
CPU is this process's CPU seconds / wall seconds (100 % = one core).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer

import httpx

from sitewatch.collector.onvif.client import CameraClient, OnvifClients
from sitewatch.collector.onvif.config import OnvifEndpoint, OnvifWorkarounds
from sitewatch.collector.onvif.decode import camera_utc

USERNAME, PASSWORD = "admin", "bench-pw"
REQUEST = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<soap-env:Envelope xmlns:soap-env="http://www.w3.org/2003/05/soap-envelope"><soap-env:Header>'
    '<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" '
    'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">'
    "<wsse:UsernameToken><wsse:Username>{username}</wsse:Username>"
    '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">'
    "{digest}</wsse:Password>"
    '<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">'
    "{nonce}</wsse:Nonce><wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    "</soap-env:Header><soap-env:Body>"
    '<ns0:GetSystemDateAndTime xmlns:ns0="http://www.onvif.org/ver10/device/wsdl"/>'
    "</soap-env:Body></soap-env:Envelope>"
)
HEADERS = {"Content-Type": 'application/soap+xml; charset=utf-8; action="http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime"'}


def signed_request() -> bytes:
    """The request with a fresh PasswordDigest token: Base64(SHA-1(nonce + created + password))."""
    nonce = os.urandom(16)
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hashlib.sha1(nonce + created.encode() + PASSWORD.encode()).digest()
    return REQUEST.format(
        username=USERNAME, digest=base64.b64encode(digest).decode(), nonce=base64.b64encode(nonce).decode(),
        created=created,
    ).encode()


def serve_ipycam(cameras: int) -> None:
    """Subprocess side: N ipycam servers on loopback, ports printed, until stdin closes."""
    import numpy as np
    from ipycam.config import CameraConfig
    from ipycam.http import IPCameraHTTPHandler
    from ipycam.onvif import ONVIFService

    class Camera:
        def __init__(self, config: CameraConfig) -> None:
            self.config, self.onvif = config, ONVIFService(config)

        def get_snapshot_frame(self) -> np.ndarray:
            return np.full((240, 320, 3), 128, np.uint8)

    servers = []
    for _ in range(cameras):
        server = ThreadingHTTPServer(("127.0.0.1", 0), IPCameraHTTPHandler)
        config = CameraConfig(local_ip="127.0.0.1", onvif_port=server.server_address[1], username=USERNAME, password=PASSWORD)
        server.RequestHandlerClass = type("Handler", (IPCameraHTTPHandler,), {"camera": Camera(config)})
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        print(server.server_address[1], flush=True)
    print("ready", flush=True)
    sys.stdin.read()


def start_cameras(cameras: int) -> tuple[subprocess.Popen[str], list[int]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bench_onvif", "--serve-ipycam", str(cameras)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    ports = []
    for line in process.stdout:
        if line.strip() == "ready":
            return process, ports
        ports.append(int(line))
    raise RuntimeError(f"camera process exited with {process.wait()}")


async def rate(calls: list[Callable[[], Awaitable[object]]], *, seconds: float, warmup_s: float) -> tuple[float, float]:
    """Calls/s and CPU share over ``seconds``, one looping task per callable."""
    counted = False
    count = 0

    async def loop(call: Callable[[], Awaitable[object]]) -> None:
        nonlocal count
        while True:
            await call()
            if counted:
                count += 1

    tasks = [asyncio.create_task(loop(c)) for c in calls]
    try:
        await asyncio.sleep(warmup_s)
        counted, wall, cpu = True, time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        counted = False
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return count / wall, cpu / wall


async def per_call_ms(call: Callable[[], Awaitable[object]], *, n: int = 300) -> float:
    for _ in range(20):
        await call()
    started = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - started) / n * 1000


async def run(args: argparse.Namespace, ports: list[int]) -> None:
    endpoints = [
        OnvifEndpoint(host="127.0.0.1", port=p, credential="bench", workarounds=OnvifWorkarounds(auth_for_time=True))
        for p in ports
    ]
    clients = OnvifClients()
    http = httpx.AsyncClient(trust_env=False)
    try:
        cameras = [
            CameraClient(asset_id=f"cam-{i}", endpoint=e, credentials=lambda: (USERNAME, PASSWORD), clients=clients)
            for i, e in enumerate(endpoints)
        ]

        def zeep_call(camera: CameraClient) -> Callable[[], Awaitable[object]]:
            async def call() -> object:
                reply, _, _ = await camera.system_time()
                return camera_utc(reply, device_id="bench")
            return call

        def bare_call(endpoint: OnvifEndpoint) -> Callable[[], Awaitable[object]]:
            async def call() -> object:
                response = await http.post(endpoint.device_url, content=signed_request(), headers=HEADERS)
                response.raise_for_status()
                return response.content
            return call

        zeep_rate, zeep_cpu = await rate([zeep_call(c) for c in cameras], seconds=args.seconds, warmup_s=args.warmup_s)
        bare_rate, bare_cpu = await rate([bare_call(e) for e in endpoints], seconds=args.seconds, warmup_s=args.warmup_s)
        zeep_ms = await per_call_ms(zeep_call(cameras[0]))
        bare_ms = await per_call_ms(bare_call(endpoints[0]))
        print(f"{len(ports)} cameras, {args.seconds:.0f} s each side")
        print(f"zeep (sitewatch.collector.onvif): {zeep_rate:8.0f} checks/s  CPU {zeep_cpu:4.0%}  sequential {zeep_ms:.2f} ms/call")
        print(f"bare httpx POST       : {bare_rate:8.0f} checks/s  CPU {bare_cpu:4.0%}  sequential {bare_ms:.2f} ms/call")
        print(f"ratio bare/zeep       : {bare_rate / zeep_rate:8.2f}x throughput, {zeep_ms / bare_ms:.2f}x latency")
    finally:
        await http.aclose()
        await clients.aclose()
    await wsdl_cost(endpoints)


async def wsdl_cost(endpoints: list[OnvifEndpoint]) -> None:
    """First call of every camera: one shared OnvifClients vs one per camera."""

    async def first_calls(factory: Callable[[], OnvifClients]) -> tuple[float, int]:
        made: list[OnvifClients] = []
        started = time.perf_counter()
        for i, endpoint in enumerate(endpoints):
            if not made or factory is not shared_factory:
                made.append(factory())
            camera = CameraClient(asset_id=f"c{i}", endpoint=endpoint, credentials=lambda: (USERNAME, PASSWORD), clients=made[-1])
            await camera.system_time()
        elapsed = time.perf_counter() - started
        parses = sum(c.wsdl_parses for c in made)
        for c in made:
            await c.aclose()
        return elapsed, parses

    shared_factory = OnvifClients
    shared_s, shared_parses = await first_calls(shared_factory)
    own_s, own_parses = await first_calls(lambda: OnvifClients())
    n = len(endpoints)
    print(f"first call of {n} cameras, shared OnvifClients : {shared_s * 1000:7.0f} ms, {shared_parses} WSDL parse(s)")
    print(f"first call of {n} cameras, one per camera      : {own_s * 1000:7.0f} ms, {own_parses} WSDL parses "
          f"({(own_s - shared_s) / max(own_parses - shared_parses, 1) * 1000:.0f} ms per extra parse)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_onvif", description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup-s", type=float, default=1.0)
    parser.add_argument("--serve-ipycam", type=int, metavar="N", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_ipycam:
        serve_ipycam(args.serve_ipycam)
        return 0
    process, ports = start_cameras(args.cameras)
    try:
        asyncio.run(run(args, ports))
    finally:
        assert process.stdin is not None
        process.stdin.close()  # the camera process exits when its stdin closes
        process.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
