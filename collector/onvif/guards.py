"""What ``client.py`` refuses before zeep or httpx see it: replies and URLs a camera sent.

A camera, or whatever answers at its address, may send anything. These checks are pure
(lxml's strict parser, httpx's URL parser: no I/O, no zeep); ``CameraClient`` turns what
they refuse into ``DecodeError`` (or ``AuthFailed`` for a 401/403). README: Hostile replies.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx
from lxml import etree

# No huge_tree: libxml2's own limits stay (256 levels of nesting, 10 MB in one text node), far
# above what any ONVIF reply needs (about 15 levels) and far below what would hurt us. The
# reply's length is capped before it gets here (transport.py, SOAP_REPLY_MAX_BYTES).
_STRICT_PARSER = etree.XMLParser(recover=False, resolve_entities=False, no_network=True, huge_tree=False)


class MalformedReply(Exception):
    """A reply we refuse before zeep reads it; translated into DecodeError (or AuthFailed) by CameraClient."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


def checked_reply(content: bytes, *, status: int) -> Any:
    """``content`` parsed strictly (the root element), or MalformedReply saying why not.

    Not well-formed XML: zeep's recover mode would read a truncated reply as an empty one.
    Well-formed but refused: see ``_refusal``.
    """
    try:
        document = etree.fromstring(content, parser=_STRICT_PARSER)
    except etree.XMLSyntaxError as exc:
        raise MalformedReply(f"HTTP {status}, not well-formed XML: {exc}", status=status) from exc
    refusal = _refusal(document)
    if refusal:
        raise MalformedReply(f"HTTP {status}, refused: {refusal}", status=status)
    return document


def _refusal(document: Any) -> str:
    """Why zeep must not read this well-formed reply, or "".

    A DTD: SOAP 1.2 (Part 1, section 5) forbids one, and it is how entity bombs and external
    entities arrive; zeep refuses those with EntitiesForbidden / DTDForbidden of its own.
    (The strict parse expands nothing: resolve_entities=False, and libxml2 stops an
    amplifying entity with a syntax error.) An Envelope whose Body is missing, doubled or
    holds no element: zeep 4.3.3 indexes the Body's first child and fails with TypeError or
    IndexError. A root that is not an Envelope is left to zeep, which names what it found.
    """
    info = document.getroottree().docinfo
    if info.doctype:
        dtd = info.internalDTD
        entities = sorted({entity.name for entity in dtd.iterentities()}) if dtd is not None else []
        declared = f" declaring entities {', '.join(entities)}"[:120] if entities else ""
        return f"a DTD{declared} (SOAP forbids one)"
    if _local_name(document.tag) != "Envelope":
        return ""
    bodies = [child for child in document if _local_name(child.tag) == "Body"]
    if len(bodies) != 1:
        return f"a SOAP Envelope with {len(bodies)} Body elements" if bodies else "a SOAP Envelope without a Body"
    if not any(isinstance(child.tag, str) for child in bodies[0]):
        return "a SOAP Body without an element"
    return ""


def _local_name(tag: object) -> str:
    # Comments and processing instructions have a function, not a string, as their tag.
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def url_problem(url: str) -> str | None:
    """Why httpx cannot send to ``url``, or None if it can.

    httpx refuses some URLs only when sending, and not as a TransportError: InvalidURL (an
    IPv6 literal it cannot read, a control character), UnsupportedProtocol (ftp://, a
    relative path), IDNAError for a malformed ``xn--`` label. A port past 65535 it lets
    through to anyio, whose connect then fails with an ExceptionGroup around OverflowError.
    """
    try:
        parsed = httpx.URL(url)
        host = parsed.host  # decodes an xn-- label: IDNAError (a ValueError) if malformed
    except (httpx.InvalidURL, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if parsed.scheme not in ("http", "https") or not host:
        return "not an absolute http(s) URL"
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        return f"port {parsed.port} is outside 1-65535"
    return None


def pinned_url(url: str, *, host: str, port: int, scheme: str = "http") -> str:
    """``url`` (one ``url_problem`` accepts) as sent to the configured camera at ``scheme``://``host``:``port``.

    A URL naming the configured host is kept as it is, whatever its port or scheme: the same
    device (some serve ONVIF on 8000 and snapshots on 80). One naming any other host is
    rewritten to ``scheme://host:port`` with its path and query, as NVRs do for cameras behind
    NAT, which report their inside address; so no request, and no credential, goes anywhere
    but the configured camera. README: Camera-supplied URLs.
    """
    parsed = httpx.URL(url)
    if _same_host(parsed.host, host):
        return url
    return str(httpx.URL(scheme=scheme, host=host, port=port, raw_path=parsed.raw_path))


def _same_host(named: str, configured: str) -> bool:
    try:
        return ipaddress.ip_address(named) == ipaddress.ip_address(configured)
    except ValueError:
        return named.casefold() == configured.casefold()
