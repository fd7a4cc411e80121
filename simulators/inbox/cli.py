"""Command line: `serve` the inbox until SIGINT/SIGTERM, printing where each channel posts."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence

from pydantic import ValidationError

from sitewatch.simulators.common.cli import positive_int
from sitewatch.simulators.inbox.server import LOOPBACK, InboxConfig, InboxServer, build

# Fixed defaults, so a configuration written against `serve` keeps working after a restart;
# give your own with the options (or let the demo make fresh ones per run).
DEFAULT_WECOM_KEY = "inbox-wecom-key"
DEFAULT_DINGTALK_TOKEN = "inbox-dingtalk-token"
DEFAULT_DINGTALK_SECRET = "SECinbox-dingtalk-secret"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.handler(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sitewatch.simulators.inbox",
        description="A simulated WeCom robot, DingTalk robot, SMS gateway and webhook endpoint that "
                    "keeps and shows what it is sent.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the inbox until SIGINT/SIGTERM")
    serve.add_argument("--host", default=LOOPBACK, help=f"address to listen on (default {LOOPBACK})")
    serve.add_argument("--port", type=int, default=0, help="port (default 0: an ephemeral one, printed)")
    serve.add_argument("--wecom-key", default=DEFAULT_WECOM_KEY, help="the WeCom robot's key (?key=)")
    serve.add_argument("--wecom-group", default="WeCom group", help="the group's name on the page")
    serve.add_argument("--dingtalk-token", default=DEFAULT_DINGTALK_TOKEN, help="the DingTalk robot's access_token")
    serve.add_argument("--dingtalk-secret", default=DEFAULT_DINGTALK_SECRET, help="its signing secret (SEC...)")
    serve.add_argument("--dingtalk-group", default="DingTalk group", help="the group's name on the page")
    serve.add_argument("--sms-account", default=None, help='the SMS "account" field required (default: any)')
    serve.add_argument("--sms-password", default=None,
                       help="the SMS API key required as Authorization: Bearer KEY (default: none)")
    serve.add_argument("--hook-secret", default=None, help="check X-Sitewatch-Signature with this (default: not)")
    serve.add_argument("--keep", type=positive_int, default=500, help="messages kept (default 500)")
    serve.add_argument("--time-zone", default="Asia/Shanghai", help="the page's time zone (default Asia/Shanghai)")
    serve.set_defaults(handler=_serve)
    return parser


def _serve(args: argparse.Namespace) -> int:
    try:
        config = InboxConfig(
            host=args.host, port=args.port, wecom_key=args.wecom_key, wecom_group=args.wecom_group,
            dingtalk_token=args.dingtalk_token, dingtalk_secret=args.dingtalk_secret,
            dingtalk_group=args.dingtalk_group, sms_account=args.sms_account, sms_password=args.sms_password,
            hook_secret=args.hook_secret, keep=args.keep, time_zone=args.time_zone,
        )
    except ValidationError as exc:
        raise SystemExit(f"python -m sitewatch.simulators.inbox serve: {exc}") from None
    return asyncio.run(_run(build(config)))


async def _run(server: InboxServer) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
        for line in describe(server):
            print(line)
        print(f"inbox {server.url}/", flush=True)
        await stop.wait()
    finally:
        await server.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


def describe(server: InboxServer) -> list[str]:
    """Where each channel posts, with what it must send: the [paging.channels] to write."""
    config, url = server.config, server.url
    sms_login = (f"account {config.sms_account or '(any)'}, "
                 f"Authorization: Bearer {config.sms_password or '(none)'}")
    return [
        f"wecom    POST {url}/wecom/send  key {config.wecom_key}",
        f"dingtalk POST {url}/dingtalk/send  access_token {config.dingtalk_token}  secret {config.dingtalk_secret}",
        f"sms      POST {url}/sms  JSON or form: to, text, id  ({sms_login})",
        f"webhook  POST {url}/hook  " + ("signed" if config.hook_secret else "unsigned"),
    ]
