"""``sitewatch modbus probe`` and ``sitewatch modbus scan``: check a profile against a station,
find the unit ids on a line. What they read and print is collector/modbus/probe.py.

Exit codes: 0 the station (or some unit) answered; 1 nothing could be reached or nothing
answered; 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import TYPE_CHECKING

from pydantic import ValidationError

if TYPE_CHECKING:  # pymodbus loads only when a modbus command runs
    from sitewatch.collector.modbus.client import Link, ModbusConnection
    from sitewatch.collector.modbus.config import ModbusProfile

# Opening a TCP connection (or a serial line) may take longer than a reply: a DTU on a
# cellular link. The reply timeout is --timeout-s.
MIN_CONNECT_TIMEOUT_S = 2.0


def add_modbus_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``modbus probe`` and ``modbus scan`` to the top-level subcommands."""
    modbus = commands.add_parser("modbus", help="check a Modbus profile against a station, find unit ids on a line",
                                 description="probe: read one station once with a profile and print every channel's "
                                 "raw words and decoded value. scan: ask unit ids one at a time which answer.")
    actions = modbus.add_subparsers(dest="modbus_command", required=True, metavar="ACTION")

    link = argparse.ArgumentParser(add_help=False)
    where = link.add_argument_group("where the station answers (--host or --serial)")
    where.add_argument("--host", help="a Modbus TCP device or gateway, or a serial-to-Ethernet converter")
    where.add_argument("--port", type=int, default=502, help="TCP port (default 502)")
    where.add_argument("--framing", choices=["tcp", "rtu_over_tcp"], default="tcp",
                       help="tcp: Modbus TCP (MBAP); rtu_over_tcp: RTU frames through a transparent converter or "
                       "DTU (default tcp)")
    where.add_argument("--serial", metavar="DEVICE", help="an RS-485/RS-232 line on this machine, e.g. /dev/ttyUSB0")
    where.add_argument("--baudrate", type=int, default=9600, help="serial line speed (default 9600)")
    where.add_argument("--parity", choices=["N", "E", "O"], default="N", help="serial parity (default N)")
    where.add_argument("--stopbits", type=int, choices=[1, 2], default=1, help="serial stop bits (default 1)")
    where.add_argument("--pause-ms", type=float, default=0.0,
                       help="quiet time after each reply before the next request (default 0)")

    probe = actions.add_parser("probe", parents=[link], help="read one station once with a profile",
                               description="Read every block of the profile (strings too) once and print each "
                               "channel with its table, address, raw words, decoded value and unit: compare one "
                               "value with what the station's own display shows.")
    probe.add_argument("--config", required=True, metavar="FILE", help="the deployment's TOML file (its profiles)")
    probe.add_argument("--profile", required=True, metavar="NAME", help="a [[modbus_profiles]] name")
    probe.add_argument("--device-id", type=int, required=True, metavar="N", help="the station's Modbus unit id")
    probe.add_argument("--timeout-s", type=_positive, default=2.0, help="for each reply (default 2)")

    scan = actions.add_parser("scan", parents=[link], help="find which unit ids answer on a line or gateway",
                              description="Ask each unit id for one value, one id at a time on one connection. "
                              "Ids that answer with data or a Modbus exception are listed; silent ids (and a "
                              "gateway's exceptions 10 and 11) are only counted.")
    scan.add_argument("--ids", type=_ids, default="1-247", help="unit ids, ranges and lists: 1-8,10 (default 1-247)")
    scan.add_argument("--table", choices=["holding", "input", "coil", "discrete"], default="holding",
                      help="what to ask each id for (default holding)")
    scan.add_argument("--address", type=int, default=0, help="0-based wire address to ask for (default 0)")
    scan.add_argument("--timeout-s", type=_positive, default=0.5,
                      help="for each reply (default 0.5): a silent id costs this much")


def run_modbus(args: argparse.Namespace) -> int:
    from sitewatch.collector.modbus.client import ModbusConnection

    link = _link(args)
    if link is None:
        return 2
    # pymodbus' failure to parse a malformed reply reaches asyncio's logger as a traceback;
    # the table already says which block it was.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    connection = ModbusConnection(link, name="sitewatch-modbus")
    if args.modbus_command == "probe":
        from sitewatch.config.load import ConfigError, load_config

        try:
            profiles = {p.name: p for p in load_config(args.config).modbus_profiles}
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        if args.profile not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            print(f"error: no modbus profile {args.profile!r} in {args.config} (profiles: {known})", file=sys.stderr)
            return 2
        if not 0 <= args.device_id <= 255:
            print(f"error: --device-id {args.device_id}: unit ids are 0-255", file=sys.stderr)
            return 2
        return asyncio.run(_probe(connection, profiles[args.profile], args))
    if not 0 <= args.address <= 65535:
        print(f"error: --address {args.address}: wire addresses are 0-65535", file=sys.stderr)
        return 2
    return asyncio.run(_scan(connection, args))


def _link(args: argparse.Namespace) -> Link | None:
    from sitewatch.collector.modbus.client import Link
    from sitewatch.collector.modbus.config import SerialLine

    if (args.host is None) == (args.serial is None):
        print("error: give either --host (and --port) or --serial", file=sys.stderr)
        return None
    connect_timeout_s = max(MIN_CONNECT_TIMEOUT_S, args.timeout_s)
    if args.serial is None:
        if not 1 <= args.port <= 65535:
            print(f"error: --port {args.port}: ports are 1-65535", file=sys.stderr)
            return None
        return Link(args.framing, args.host, args.port, None, connect_timeout_s, args.pause_ms / 1000)
    try:
        line = SerialLine(device=args.serial, baudrate=args.baudrate, parity=args.parity, stopbits=args.stopbits)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
        print(f"error: serial line: {problems}", file=sys.stderr)
        return None
    return Link("rtu", None, 502, line, connect_timeout_s, args.pause_ms / 1000)


async def _probe(connection: ModbusConnection, profile: ModbusProfile, args: argparse.Namespace) -> int:
    from sitewatch.collector.errors import DeviceTimeout, DeviceUnreachable
    from sitewatch.collector.modbus.probe import StationSilent, format_probe, probe

    station = f"unit {args.device_id} at {connection.link}"
    try:
        readings = await probe(connection, profile, device_id=args.device_id, timeout_s=args.timeout_s)
    except (DeviceUnreachable, DeviceTimeout) as exc:
        print(f"error: cannot reach {connection.link}: {exc.message}", file=sys.stderr)
        return 1
    except StationSilent as exc:
        print(f"error: {station} does not answer: {exc.first.message}", file=sys.stderr)
        return 1
    finally:
        await connection.close()
    print(f"{station}, profile {profile.name}")
    print(format_probe(readings))
    return 0


async def _scan(connection: ModbusConnection, args: argparse.Namespace) -> int:
    from sitewatch.collector.errors import DeviceTimeout, DeviceUnreachable
    from sitewatch.collector.modbus.probe import (
        LinkLost,
        format_ids,
        format_scan_result,
        format_scan_summary,
        scan,
    )

    print(f"asking units {format_ids(args.ids)} at {connection.link} for {args.table} {args.address}, "
          f"{args.timeout_s:g} s each", flush=True)
    results = []
    try:
        async for result in scan(connection, args.ids, table=args.table, address=args.address,
                                 timeout_s=args.timeout_s):
            results.append(result)
            if (line := format_scan_result(result, table=args.table, address=args.address)) is not None:
                print(line, flush=True)  # a long scan shows what it found as it goes
    except (DeviceUnreachable, DeviceTimeout) as exc:
        print(f"error: cannot reach {connection.link}: {exc.message}", file=sys.stderr)
        return 1
    except LinkLost as exc:
        print(format_scan_summary(results))
        print(f"error: the connection to {connection.link} was lost after unit {exc.after} and cannot be "
              f"opened again: {exc.error.message}", file=sys.stderr)
        return 1
    finally:
        await connection.close()
    print(format_scan_summary(results))
    return 0 if any(r.answering for r in results) else 1


def _ids(text: str) -> list[int]:
    from sitewatch.collector.modbus.probe import parse_ids

    try:
        return parse_ids(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 < seconds <= 60")
    return value
