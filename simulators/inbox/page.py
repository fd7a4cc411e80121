"""The inbox's page: the messages received, newest first, reloading itself every few seconds.

Self-contained (inline CSS, no script, no font or file from elsewhere) for networks with no
way out. Everything a message carries is the sender's text and is shown as text: every
value is HTML-escaped, and markdown is shown as written, not rendered. English only, like
the other simulators' control APIs (simulators are not among sitewatch.i18n.check's packages).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from sitewatch.domain.time import to_local

if TYPE_CHECKING:
    from sitewatch.simulators.inbox.server import Received

REFRESH_S = 5
CHANNELS = (("wecom", "WeCom"), ("dingtalk", "DingTalk"), ("sms", "SMS"), ("webhook", "Webhook"))
_STYLE = """
body { font: 14px/1.4 system-ui, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; margin: 1.5em; }
h1 { font-size: 1.3em; margin: 0 0 .3em; }
nav a { margin-right: 1em; } nav a.on { font-weight: bold; text-decoration: none; color: inherit; }
table { border-collapse: collapse; width: 100%; margin-top: 1em; }
th, td { border-bottom: 1px solid #ddd; padding: .4em .6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.when { white-space: nowrap; font-variant-numeric: tabular-nums; }
pre { margin: .3em 0 0; white-space: pre-wrap; word-break: break-word; font: inherit; }
.subject { font-weight: bold; } .muted { color: #777; font-size: .9em; }
.repeat { color: #a60; font-weight: bold; }
"""


def render_page(messages: Sequence[Received], *, channel: str | None, time_zone: str) -> str:
    """The whole HTML document for ``messages`` (already newest first)."""
    links = [_link("/", "All", on=channel is None)]
    links += [_link(f"/?channel={kind}", name, on=channel == kind) for kind, name in CHANNELS]
    rows = "\n".join(_row(m, time_zone) for m in messages) or (
        '<tr><td colspan="4" class="muted">Nothing received yet.</td></tr>')
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_S}">
<title>Sitewatch inbox — messages sent</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Messages sent</h1>
<p class="muted">What reached the simulated WeCom and DingTalk robots, SMS gateway and webhook
(times in {escape(time_zone)}; this page reloads every {REFRESH_S} s;
JSON: <a href="/api/messages">/api/messages</a>).</p>
<nav>{" ".join(links)}</nav>
<table>
<thead><tr><th>When</th><th>Channel</th><th>To</th><th>Message</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


def _link(href: str, name: str, *, on: bool) -> str:
    current = ' class="on"' if on else ""
    return f'<a href="{escape(href)}"{current}>{escape(name)}</a>'


def _row(message: Received, time_zone: str) -> str:
    when = to_local(message.at, time_zone).strftime("%Y-%m-%d %H:%M:%S")
    channel = dict(CHANNELS).get(message.channel, message.channel)
    to = escape(message.to)
    if message.mentions:
        to += '<div class="muted">@ ' + escape(", ".join(message.mentions)) + "</div>"
    text = ""
    if message.subject:
        text += f'<div class="subject">{escape(message.subject)}</div>'
    text += f"<pre>{escape(message.body)}</pre>"
    notes = [message.format]
    if message.key:
        notes.append(f"key {message.key}")
    note = f'<div class="muted">{escape(" · ".join(notes))}</div>'
    if message.repeat:
        note += '<div class="repeat">again: a message with this key was received before</div>'
    return (f'<tr><td class="when">{when}</td><td>{escape(channel)}</td><td>{to}</td>'
            f"<td>{text}{note}</td></tr>")
