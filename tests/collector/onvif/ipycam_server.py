"""ipycam (an independent virtual ONVIF camera) served on 127.0.0.1 only, for tests and the benchmark.

``IPCamera.start()`` would bind every interface and start WS-Discovery on 3702; instead its
HTTP handler is mounted on a server bound to loopback, with a synthetic frame.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

import numpy as np
from ipycam.config import CameraConfig
from ipycam.http import IPCameraHTTPHandler
from ipycam.onvif import ONVIFService

USERNAME = "admin"
PASSWORD = "s3cret-pw"


@dataclass
class _Camera:
    """What IPCameraHTTPHandler reads from its ``camera``."""

    config: CameraConfig
    onvif: ONVIFService
    frame: np.ndarray

    def get_snapshot_frame(self) -> np.ndarray:
        return self.frame.copy()


def scene(*, seed: int = 1, height: int = 240, width: int = 320) -> np.ndarray:
    """A textured BGR picture: gradients plus noise, so the picture check sees structure."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = (x * 255 / width * 0.6 + y * 255 / height * 0.3 + 20).astype(np.float64)
    base[::16, :] = 230  # grid lines: sharp edges
    base[:, ::16] = 230
    grey = np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
    return np.stack([grey, grey, grey], axis=-1)


@dataclass
class RunningCamera:
    port: int
    camera: _Camera
    server: ThreadingHTTPServer


@contextmanager
def serve_ipycam(*, username: str = USERNAME, password: str = PASSWORD) -> Iterator[RunningCamera]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), IPCameraHTTPHandler)
    port = server.server_address[1]
    config = CameraConfig(local_ip="127.0.0.1", onvif_port=port, username=username, password=password)
    camera = _Camera(config=config, onvif=ONVIFService(config), frame=scene())
    # A subclass per server: the handler reads ``camera`` from its class.
    server.RequestHandlerClass = type("Handler", (IPCameraHTTPHandler,), {"camera": camera})
    thread = threading.Thread(target=server.serve_forever, name=f"ipycam:{port}")
    thread.start()
    try:
        yield RunningCamera(port=port, camera=camera, server=server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
