"""SOAP 1.2 envelopes for the ONVIF services: namespaces, request parsing, responses, faults.

Responses are lxml trees built with `el`; every namespace is declared once on the
Envelope, including `tns1`, which only appears inside topic text and so would be
dropped as unused by a plain clean-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "wstop": "http://docs.oasis-open.org/wsn/t-1",
    "tns1": "http://www.onvif.org/ver10/topics",
    "ter": "http://www.onvif.org/ver10/error",
    "wsrf-rw": "http://docs.oasis-open.org/wsrf/rw-2",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "xs": "http://www.w3.org/2001/XMLSchema",
}
CONTENT_TYPE = "application/soap+xml; charset=utf-8"

# Requests come from the network: no DTDs, no entities, no fetching.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def qname(prefixed: str) -> str:
    """'tds:GetDeviceInformation' -> '{http://www.onvif.org/ver10/device/wsdl}GetDeviceInformation'."""
    prefix, _, local = prefixed.partition(":")
    return f"{{{NS[prefix]}}}{local}"


def el(prefixed: str, *children: etree._Element | str | None, **attrs: str) -> etree._Element:
    """An element; str children become its text, None children are skipped."""
    node = etree.Element(qname(prefixed))
    for name, value in attrs.items():
        node.set(name, value)
    for child in children:
        if child is None:
            continue
        if isinstance(child, str):
            node.text = (node.text or "") + child
        else:
            node.append(child)
    return node


def xs_bool(value: bool) -> str:
    return "true" if value else "false"


def xs_datetime(at: datetime) -> str:
    """UTC xs:dateTime, whole seconds, 'Z' suffix (what most cameras send)."""
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class SoapFault(Exception):
    """Answered as a SOAP 1.2 Fault; `subcode` is a prefixed QName such as 'ter:NotAuthorized'."""

    def __init__(self, *, sender: bool, subcode: str, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.sender = sender
        self.subcode = subcode
        self.reason = reason
        # SOAP 1.2 HTTP binding: Sender faults are 400, Receiver faults 500.
        self.status = status or (400 if sender else 500)


def not_authorized() -> SoapFault:
    # The ONVIF Core spec's fault for a missing or wrong WS-UsernameToken.
    return SoapFault(sender=True, subcode="ter:NotAuthorized", reason="Sender not authorized")


@dataclass(frozen=True, slots=True)
class Request:
    header: etree._Element | None
    operation: etree._Element  # the Body's first child

    @property
    def name(self) -> str:
        return self.operation.tag


def parse_request(body: bytes) -> Request:
    try:
        root = etree.fromstring(body, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault(sender=True, subcode="ter:WellFormed", reason=f"not XML: {exc}") from None
    if root.tag != qname("env:Envelope"):
        # SOAP 1.1 or something else entirely: ONVIF devices speak SOAP 1.2.
        raise SoapFault(sender=True, subcode="ter:WellFormed", reason=f"not a SOAP 1.2 envelope: {root.tag}")
    body_el = root.find(qname("env:Body"))
    operation = None if body_el is None else next(iter(body_el.iterchildren(tag=etree.Element)), None)
    if operation is None:
        raise SoapFault(sender=True, subcode="ter:WellFormed", reason="empty SOAP Body")
    return Request(header=root.find(qname("env:Header")), operation=operation)


def envelope(payload: etree._Element) -> bytes:
    env = etree.Element(qname("env:Envelope"), nsmap=NS)
    etree.SubElement(env, qname("env:Body")).append(payload)
    etree.cleanup_namespaces(env, top_nsmap=NS, keep_ns_prefixes=list(NS))
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def fault_envelope(fault: SoapFault) -> bytes:
    code = el("env:Code", el("env:Value", "env:Sender" if fault.sender else "env:Receiver"))
    code.append(el("env:Subcode", el("env:Value", fault.subcode)))
    reason = el("env:Reason", el("env:Text", fault.reason))
    reason[0].set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    return envelope(el("env:Fault", code, reason))


def child_text(parent: etree._Element, prefixed: str) -> str | None:
    found = parent.find(qname(prefixed))
    return None if found is None or found.text is None else found.text.strip()
