"""A virtual RS-485 line with RTU devices we did not write, and a serial-to-Ethernet converter.

    with pty_pair() as (device_end, master_end):               # Debian's socat
        with umodbus_rtu_server(device_end, units={1: {("holding", 0): 1234}}) as devices:
            ...  # an RTU master (pymodbus' serial client, ours) opens master_end
            async with RtuBridge(master_end) as bridge:        # or: a TCP client on bridge.port
                ...

The devices are umodbus' RTU server, made silent for unit ids it does not serve, as a
real device on a shared line is. The bridge passes bytes between TCP and the line without
looking at them, as a transparent converter or DTU does ("RTU over TCP").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import select
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator, Mapping
from typing import Any, Literal, Self

import serial
from umodbus.client.serial.redundancy_check import validate_crc
from umodbus.exceptions import IllegalDataAddressError
from umodbus.server.serial import get_server
from umodbus.server.serial.rtu import RTUServer, get_char_size

from tests.servers import free_port

from .servers import HOST

SOCAT_START_S = 5.0
BAUDRATE = 9600  # meaningless on a pty, but it sets the devices' end-of-frame silence (t3.5 = 4 ms)

Table = Literal["coil", "discrete", "input", "holding"]  # the product's names (collector/modbus/config.py)
_TABLE_OF_FUNCTION = {1: "coil", 2: "discrete", 3: "holding", 4: "input"}
_PTY_LINE = re.compile(rb"PTY is (\S+)")


# --- the line ------------------------------------------------------------------------------


@contextlib.contextmanager
def pty_pair() -> Iterator[tuple[str, str]]:
    """Two pseudo-terminals joined by socat, like the two ends of a serial cable; yields their
    paths. Each end may be closed and opened again while the pair lives."""
    process = subprocess.Popen(
        ["socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        yield _pty_paths(process)
    finally:
        process.terminate()
        process.communicate()  # reaps it and drains its last log lines


def _pty_paths(process: subprocess.Popen[bytes]) -> tuple[str, str]:
    """The two paths socat logs, once it also logs that bytes flow (before that, a write to
    one end could be lost)."""
    assert process.stderr is not None
    log = b""
    deadline = time.monotonic() + SOCAT_START_S
    while b"starting data transfer loop" not in log:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([process.stderr], [], [], remaining)[0]:
            raise RuntimeError(f"socat not ready after {SOCAT_START_S} s: {log.decode(errors='replace')}")
        chunk = os.read(process.stderr.fileno(), 4096)
        if not chunk:
            raise RuntimeError(f"socat exited with {process.wait()}: {log.decode(errors='replace')}")
        log += chunk
    paths = [p.decode() for p in _PTY_LINE.findall(log)]
    if len(paths) != 2:
        raise RuntimeError(f"expected two PTY paths from socat: {log.decode(errors='replace')}")
    return paths[0], paths[1]


# --- RTU devices on the line (umodbus) -----------------------------------------------------


class RtuDevices:
    """What the devices on the line hold: unit id -> {(table, address): value}. Change it
    while the server runs; a request sees one consistent state (a multi-register value is
    never read half-updated)."""

    def __init__(self, units: Mapping[int, Mapping[tuple[Table, int], int]]) -> None:
        self.lock = threading.Lock()  # held while a request is answered
        self._units: dict[int, dict[tuple[Table, int], int]] = {}
        self.requests: list[tuple[int, int]] = []  # (unit id, function code) of every good frame heard
        for unit, values in units.items():
            self.set(unit, values)

    def set(self, unit: int, values: Mapping[tuple[Table, int], int]) -> None:
        """Set some of a unit's values (a new unit joins the line)."""
        if not 1 <= unit <= 247:
            raise ValueError(f"unit ids on a line are 1-247, not {unit}")
        for (table, address), value in values.items():
            limit = 1 if table in ("coil", "discrete") else 0xFFFF  # umodbus packs registers unsigned
            if table not in _TABLE_OF_FUNCTION.values() or not 0 <= address <= 0xFFFF or not 0 <= value <= limit:
                raise ValueError(f"unit {unit}: {table} {address} cannot hold {value}")
        with self.lock:
            self._units.setdefault(unit, {}).update(values)

    def remove(self, unit: int) -> None:
        """Unplug a unit: requests to it go unanswered from now on."""
        with self.lock:
            del self._units[unit]

    def __contains__(self, unit: object) -> bool:
        return unit in self._units

    def read(self, slave_id: int, function_code: int, address: int) -> int:
        """umodbus' endpoint for one address (its keyword names)."""
        try:
            return self._units[slave_id][(_TABLE_OF_FUNCTION[function_code], address)]
        except KeyError:
            raise IllegalDataAddressError() from None  # what a device answers for a hole


class _LineRTUServer(RTUServer):
    """umodbus' RTU server with two fixes for a shared line.

    Framing: umodbus reads 256 bytes and relies on pyserial's inter-byte timeout to end a
    frame, but pyserial 3.5 on POSIX ignores that timeout, so every request waited the whole
    poll interval (0.5 s). Here a frame ends after 3.5 characters of silence, as the spec says.
    Silence: umodbus answers every unit id (exception 2 when nothing is routed); a device on
    a shared line must stay silent for requests to other ids, or it would garble their replies.
    """

    devices: RtuDevices

    def serve_once(self) -> None:
        port = self.serial_port
        request_adu = port.read(1)  # waits up to serve_forever's poll interval
        if not request_adu:
            raise ValueError  # nothing came: serve_forever checks for shutdown and reads again
        frame_gap_s = 3.5 * get_char_size(port.baudrate)
        while select.select([port.fileno()], [], [], frame_gap_s)[0]:
            request_adu += port.read(port.in_waiting or 1)
        validate_crc(request_adu)  # a garbled frame: CRCError, logged by serve_forever, no reply
        unit, function_code = request_adu[0], request_adu[1]
        with self.devices.lock:
            self.devices.requests.append((unit, function_code))
            if unit not in self.devices:
                return
            response_adu = self.process(request_adu)
        self.respond(response_adu)


@contextlib.contextmanager
def umodbus_rtu_server(
    path: str, *, units: Mapping[int, Mapping[tuple[Table, int], int]], baudrate: int = BAUDRATE
) -> Iterator[RtuDevices]:
    """Serve FC1-4 for ``units`` on the serial port ``path`` (umodbus 1.0.4 in a thread) and
    yield their mutable state. Addresses a unit lacks answer exception 2; other unit ids and
    garbled frames (bad CRC) get no reply."""
    devices = RtuDevices(units)
    port = serial.Serial(path, baudrate=baudrate)
    server = get_server(_LineRTUServer, port)
    server.devices = devices
    server.route(function_codes=list(_TABLE_OF_FUNCTION))(devices.read)
    # serve_forever checks its shutdown flag between reads of at most poll_interval;
    # cancel_read() below ends the read in progress at once.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, name="umodbus-rtu")
    thread.start()
    try:
        yield devices
    finally:
        server.shutdown()
        port.cancel_read()
        thread.join()
        port.close()


# --- a transparent serial-to-Ethernet converter ----------------------------------------------


class RtuBridge:
    """A TCP server on 127.0.0.1 passing bytes between each client and the serial port at
    ``serial_path``, like a converter in transparent mode: it does not parse frames, sends
    what the line says to every connected client, and drops it when none is connected.

    ``stop()`` is the converter dying (listener closed, connections dropped: connecting is
    refused); ``start()`` brings it back on the same port. Runs on the current event loop.
    """

    def __init__(self, serial_path: str, *, port: int | None = None, baudrate: int = BAUDRATE) -> None:
        self.serial_path = serial_path
        self.port = port if port is not None else free_port()
        self.baudrate = baudrate
        self._serial: serial.Serial | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        if self._serial is None:
            # timeout=0: reads return what is there, so the reader callback never blocks the loop
            self._serial = serial.Serial(self.serial_path, baudrate=self.baudrate, timeout=0)
            asyncio.get_running_loop().add_reader(self._serial.fileno(), self._from_line)
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, HOST, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    async def close(self) -> None:
        """Stop, and let go of the serial port."""
        await self.stop()
        if self._serial is not None:
            asyncio.get_running_loop().remove_reader(self._serial.fileno())
            self._serial.close()
            self._serial = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _from_line(self) -> None:
        assert self._serial is not None
        try:
            data = self._serial.read(4096)
        except serial.SerialException:
            # The line's other end is gone (socat ended): stop listening, or this callback
            # would fire again at once, forever. Clients then get no replies: timeouts.
            asyncio.get_running_loop().remove_reader(self._serial.fileno())
            return
        for writer in self._writers:
            writer.write(data)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None or self._serial is None:  # accepted just before stop(): it is dead
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            while data := await reader.read(4096):
                self._serial.write(data)
        except ConnectionError:
            pass  # the client went away
        finally:
            self._writers.discard(writer)
            self._handlers.discard(task)
            writer.close()


class BridgeThread:
    """An RtuBridge on its own event loop in a thread, for sync tests and for benchmarks that
    measure an async client on the main loop without the bridge's work on that loop.

        with BridgeThread(master_end) as bridge:
            ModbusTcpClient(HOST, port=bridge.port, framer=FramerType.RTU) ...
            bridge.stop(); bridge.start()
    """

    def __init__(self, serial_path: str, *, port: int | None = None, baudrate: int = BAUDRATE) -> None:
        self.bridge = RtuBridge(serial_path, port=port, baudrate=baudrate)
        self.port = self.bridge.port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._run(self.bridge.start())

    def stop(self) -> None:
        self._run(self.bridge.stop())

    def __enter__(self) -> Self:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="rtu-bridge")
        self._thread.start()
        try:
            self.start()
        except BaseException:
            self._end()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._run(self.bridge.close())
        finally:
            self._end()

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None, "use BridgeThread as a context manager"
        # No timeout on result(): a timed wait on a thread never returns under faketime.
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _end(self) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
