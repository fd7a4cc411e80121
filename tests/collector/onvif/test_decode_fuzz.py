"""Property tests of what a camera's SOAP replies become: the strict parse (guards.checked_reply)
and sitewatch.collector.onvif.decode, on bytes, on envelopes built from the SOAP/ONVIF grammar with
elements missing, doubled, misnamed or in the wrong namespace, and on the mappings zeep hands
over with values of any type.

- ``checked_reply`` gives an element or MalformedReply, never anything else.
- Every decoder gives its value or DecodeError; event times and the camera clock come out
  timezone-aware UTC; a URL ``usable_url`` keeps is one the HTTP client can send to.
"""

from __future__ import annotations

import decimal
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from hypothesis import example, given
from hypothesis import strategies as st
from lxml import etree

from sitewatch.collector.errors import DecodeError
from sitewatch.collector.onvif.decode import (
    FACT_MAX_CHARS,
    CameraEvent,
    camera_event,
    camera_events,
    camera_utc,
    device_info,
    media_profiles,
    service_addresses,
    usable_url,
)
from sitewatch.collector.onvif.guards import MalformedReply, checked_reply, url_problem
from tests.corpus import fuzz_settings

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSNT = "http://docs.oasis-open.org/wsn/b-2"
TT = "http://www.onvif.org/ver10/schema"

# Text a camera could put in an attribute or element (XML 1.0 characters only; the rest is
# covered by the raw-bytes properties).
XML_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Cn"]), max_size=30)
OFFSETS = st.one_of(st.none(), st.just(UTC), st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m))))
TIMES = st.one_of(
    st.datetimes(timezones=OFFSETS).map(lambda d: d.isoformat()),
    st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1)).map(lambda d: d.isoformat() + "Z"),
    st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-14:00", "2026-11-27T24:00:00Z",
                     "2026-11-27T08:00:01.999999999Z", "2026-11-27 08:00:01", " 2026-11-27T08:00:01Z ",
                     "1970-01-01T00:00:00Z", "20261127T080001Z", ""]),
    XML_TEXT,
)
TOPICS = st.one_of(
    st.sampled_from(["tns1:VideoSource/MotionAlarm", "tns1:RuleEngine/CellMotionDetector/Motion",
                     "tns1:VideoSource/GlobalSceneChange/ImagingService", "tns1:RuleEngine/TamperDetector/Tamper",
                     "tns1:VideoSource/SignalLoss", "tns1:Device/HardwareFailure/StorageFailure",
                     "http://www.onvif.org/ver10/topics/VideoSource/MotionAlarm", "ns0:VideoSource/MotionAlarm/",
                     " /tnsonvif:VideoSource/SignalLoss ", "tns1:Monitoring/ProcessorUsage"]),
    XML_TEXT,
)
BOOLEANS = st.one_of(st.sampled_from(["true", "false", "1", "0", "TRUE", " False ", "", "yes", "2"]), XML_TEXT)
ITEM_NAMES = st.one_of(st.sampled_from(["State", "IsMotion", "IsTamper", "Failed", "Value", "VideoSourceToken",
                                        "Source", ""]), XML_TEXT)


def tag(name: str, *, prefix: str) -> str:
    return f"{prefix}:{name}" if prefix else name


@st.composite
def simple_items(draw: st.DrawFn, *, prefix: str) -> str:
    items = []
    for _ in range(draw(st.integers(0, 3))):
        attrs = ""
        if draw(st.booleans()):
            attrs += f" Name={quoteattr(draw(ITEM_NAMES))}"
        if draw(st.booleans()):
            attrs += f" Value={quoteattr(draw(BOOLEANS))}"
        kind = draw(st.sampled_from(["SimpleItem", "SimpleItem", "ElementItem", "Other"]))
        items.append(f"<{tag(kind, prefix=prefix)}{attrs}/>")
    return "".join(items)


@st.composite
def messages(draw: st.DrawFn) -> str:
    """A tt:Message as cameras send it, or bent: sections missing or doubled, the wrong
    namespace, no namespace, a wrapper around it, comments and text in between."""
    prefix = draw(st.sampled_from(["tt", "tt", "", "other"]))
    attrs = ""
    if draw(st.integers(0, 9)):
        attrs += f" UtcTime={quoteattr(draw(TIMES))}"
    if draw(st.booleans()):
        attrs += " PropertyOperation=" + quoteattr(draw(st.one_of(
            st.sampled_from(["Initialized", "Changed", "Deleted"]), XML_TEXT)))
    sections = draw(st.lists(st.sampled_from(["Source", "Data", "Key", "Data", "Extension"]), max_size=4))
    body = "".join(f"<{tag(s, prefix=prefix)}>{draw(simple_items(prefix=prefix))}</{tag(s, prefix=prefix)}>"
                   for s in sections)
    if draw(st.booleans()):
        body += "<!-- a comment --><?pi data?>" + escape(draw(XML_TEXT))
    namespaces = f' xmlns:tt="{TT}" xmlns:other="urn:other"'
    message = f"<{tag('Message', prefix=prefix)}{namespaces}{attrs}>{body}</{tag('Message', prefix=prefix)}>"
    if draw(st.integers(0, 4)) == 0:  # zeep hands over a wrapper when Message is not namespace-qualified
        message = f"<Wrapper{namespaces}>{message}</Wrapper>"
    return message


def element(text: str, *, stdlib: bool) -> Any:
    return ET.fromstring(text) if stdlib else etree.fromstring(text)


def check_event(topic: str, message: Any) -> None:
    try:
        event = camera_event(topic, message, device_id="cam")
    except DecodeError as error:
        str(error).encode("utf-8")
        # A camera's reply may be megabytes: an error (a log line, the device's last error) quotes a part.
        assert len(error.message) <= 300, f"an error of {len(error.message)} characters"
        return
    if event is None:
        return
    assert isinstance(event, CameraEvent)
    assert event.kind in ("motion", "tamper", "video_loss", "storage_failure")
    assert isinstance(event.state, bool) and isinstance(event.source, str)
    assert event.at.tzinfo is not None and event.at.utcoffset() == timedelta(0), event.at


@fuzz_settings(250)
@given(TOPICS, messages(), st.booleans())
@example("tns1:VideoSource/MotionAlarm", f'<tt:Message xmlns:tt="{TT}" UtcTime="0001-01-01T00:00:00+05:00">'
         '<tt:Data><tt:SimpleItem Name="State" Value="true"/></tt:Data></tt:Message>', False)
@example("tns1:VideoSource/MotionAlarm", f'<tt:Message xmlns:tt="{TT}"><tt:Data>'
         + '<tt:SimpleItem Name="x" Value="maybe"/>' * 100 + "</tt:Data></tt:Message>", False)
@example("tns1:VideoSource/SignalLoss" + "/" * 400, "<Wrapper/>", True)
def test_any_event_message_is_an_event_none_or_a_decode_error(topic: str, message: str, stdlib: bool):
    check_event(topic, element(message, stdlib=stdlib))


def envelope(draw: st.DrawFn) -> str:
    """A PullMessagesResponse (or something in its place) in a SOAP envelope, bent."""
    soap = draw(st.sampled_from([SOAP12, SOAP12, SOAP11, "urn:not-soap", ""]))
    env = "s:" if soap else ""
    declare = f' xmlns:s="{soap}"' if soap else ""
    notes = []
    for _ in range(draw(st.integers(0, 3))):
        topic = f"<wsnt:Topic Dialect=\"x\">{escape(draw(TOPICS))}</wsnt:Topic>" if draw(st.integers(0, 5)) else ""
        holder = f"<wsnt:Message>{draw(messages())}</wsnt:Message>" if draw(st.integers(0, 5)) else ""
        notes.append(f"<wsnt:NotificationMessage>{topic}{holder}</wsnt:NotificationMessage>")
    times = "".join(f"<tev:{name}>{escape(draw(TIMES))}</tev:{name}>"
                    for name in draw(st.lists(st.sampled_from(["CurrentTime", "TerminationTime"]), max_size=3)))
    response = (f'<tev:PullMessagesResponse xmlns:tev="http://www.onvif.org/ver10/events/wsdl" '
                f'xmlns:wsnt="{WSNT}">{times}{"".join(notes)}</tev:PullMessagesResponse>')
    bodies = draw(st.sampled_from([1, 1, 1, 0, 2]))
    header = f"<{env}Header/>" if draw(st.booleans()) else ""
    body = "".join(f"<{env}Body>{response if i == 0 else ''}</{env}Body>" for i in range(bodies))
    return f"<{env}Envelope{declare}>{header}{body}</{env}Envelope>"


DOCTYPES = st.sampled_from([
    "",
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>',
    '<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE foo SYSTEM "http://127.0.0.1:9/x.dtd">',
])
DECLARATIONS = st.sampled_from(['', '<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-8"?>',
                                '<?xml version="1.0" encoding="UTF-16"?>', '<?xml version="1.1"?>',
                                '<?xml version="1.0" encoding="x-nonsense"?>', "\ufeff"])


@st.composite
def replies(draw: st.DrawFn) -> bytes:
    text = draw(DECLARATIONS) + draw(DOCTYPES) + envelope(draw)
    data = text.encode("utf-8")
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))  # a reply cut short
    return data if cut is None else data[:cut]


def pulled(document: Any) -> list[tuple[str, Any]]:
    """The notifications of a PullMessages reply, read from the XML as CameraClient.pull_messages reads them."""
    notes = []
    for note in document.iter(f"{{{WSNT}}}NotificationMessage"):
        topic, holder = note.find(f"{{{WSNT}}}Topic"), note.find(f"{{{WSNT}}}Message")
        if topic is not None and topic.text and holder is not None and len(holder):
            notes.append((topic.text, holder[0]))
    return notes


def check_reply(content: bytes) -> None:
    try:
        document = checked_reply(content, status=200)
    except MalformedReply as refused:
        assert refused.status == 200
        str(refused).encode("utf-8")
        return
    events, errors = camera_events(pulled(document), device_id="cam")
    for event in events:
        assert event.at.utcoffset() == timedelta(0)
    assert all(isinstance(e, DecodeError) for e in errors)


@fuzz_settings(250)
@given(st.one_of(replies(), st.binary(max_size=400)))
@example(b"")
@example(b"<a/>")
@example(b"<a>" * 5000 + b"</a>" * 5000)  # past libxml2's nesting limit
@example(f'<s:Envelope xmlns:s="{SOAP12}"><s:Body><x>{"9" * 100000}</x></s:Body></s:Envelope>'.encode())
@example(f'<s:Envelope xmlns:s="{SOAP12}"><s:Body><!-- --></s:Body></s:Envelope>'.encode())
def test_any_reply_is_parsed_strictly_or_refused_and_its_events_decode(content: bytes):
    check_reply(content)


# --- the mappings zeep hands over ----------------------------------------------------------------

NUMBERISH = st.one_of(st.integers(-(10**25), 10**25), st.floats(), st.decimals(), st.text(max_size=25),
                      st.sampled_from(["2026", " 11 ", "1e3", "0x10", "٣", "nan", "-0", "99999999999999999999"]),
                      st.none(), st.booleans(), st.lists(st.integers(), max_size=2))


@st.composite
def date_and_time_replies(draw: st.DrawFn) -> object:
    date = {k: draw(NUMBERISH if draw(st.integers(0, 3)) else st.integers(1, 12))
            for k in draw(st.sets(st.sampled_from(["Year", "Month", "Day"]), max_size=3))}
    time = {k: draw(NUMBERISH if draw(st.integers(0, 3)) else st.integers(0, 59))
            for k in draw(st.sets(st.sampled_from(["Hour", "Minute", "Second"]), max_size=3))}
    utc = draw(st.sampled_from([{"Date": date, "Time": time}, {"Date": date}, {"Time": time}, date, None, "x", []]))
    return draw(st.sampled_from([{"UTCDateTime": utc}, {"LocalDateTime": utc}, utc]))


@fuzz_settings(250)
@given(date_and_time_replies())
@example({"UTCDateTime": {"Date": {"Year": 9999, "Month": 12, "Day": 31}, "Time": {"Hour": 23, "Minute": 59,
                                                                                   "Second": 59}}})
@example({"UTCDateTime": {"Date": {"Year": decimal.Decimal("Infinity"), "Month": 1, "Day": 1},
                          "Time": {"Hour": 0, "Minute": 0, "Second": 0}}})
def test_the_camera_clock_is_utc_or_a_decode_error(reply: object):
    try:
        camera = camera_utc(reply, device_id="cam")  # type: ignore[arg-type]
    except DecodeError as error:
        assert len(error.message) <= 300
        return
    assert camera.tzinfo is not None and camera.utcoffset() == timedelta(0)
    camera + timedelta(days=1)  # signing a call adds our offset to it: must stay in the calendar


ANYTHING = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                                  st.binary(max_size=5)),
                        lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                st.dictionaries(st.sampled_from(["token", "Name", "XAddr", "Media",
                                                                                 "Events", "Manufacturer", "x"]),
                                                                inner, max_size=4)),
                        max_leaves=10)
URLS = st.one_of(
    st.text(max_size=40),
    st.builds(lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
              st.sampled_from(["http", "https", "HTTP", "ftp", ""]),
              st.one_of(st.sampled_from(["cam", "192.168.1.64", "[::1]", "[fe80::1%eth0]", "[::1", "xn--", "xn--a",
                                         "xn--ls8h", "bücher.de", "a b", "user:pw@cam", "%41", "", "cam."]),
                        st.text(st.characters(codec="ascii"), max_size=12)),
              st.one_of(st.just(""), st.integers(-1, 70000).map(lambda p: f":{p}"), st.sampled_from([":", ":x"])),
              st.sampled_from(["", "/", "/onvif/device_service", "/a?b#c", "/\x7f"])),
)


@fuzz_settings(500)
@given(URLS)
@example("http://cam:0/onvif")
@example("http://xn--a/onvif")  # IDNAError from httpx
@example("HTTP://xn--")
@example("https://[fe80::1%eth0]:0")
def test_a_url_usable_url_keeps_can_be_sent_to(address: str):
    kept = usable_url(address)
    if kept is not None:
        assert kept == address
        assert url_problem(kept) is None, f"usable_url kept {address!r}, which the HTTP client refuses"


@fuzz_settings(250)
@given(ANYTHING, ANYTHING, ANYTHING)
def test_inventory_capabilities_and_profiles_take_any_mapping(info: object, capabilities: object, profiles: object):
    found = device_info(info)  # type: ignore[arg-type]
    assert all(isinstance(v := getattr(found, f), str) and len(v) <= FACT_MAX_CHARS and v.isprintable()
               for f in found.__slots__)
    addresses = service_addresses(capabilities)  # type: ignore[arg-type]
    for address in (addresses.media, addresses.events):
        assert address is None or url_problem(address) is None
    try:
        tokens = media_profiles(profiles, device_id="cam")  # type: ignore[arg-type]
    except DecodeError:
        return
    assert tokens and all(p.token for p in tokens)
