"""The ONVIF event service: PullPoint subscriptions holding queued notifications.

Subscription lifetimes are kept on the fleet's (true) clock and shown on the camera's
(possibly drifted) clock, so drift never makes a subscription expire early or late.
A subscription ends when its termination time passes without a Renew, on Unsubscribe,
or when the camera reboots; asking for it afterwards is a ResourceUnknown fault.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lxml import etree

from sitewatch.simulators.camera.soap import SoapFault, child_text, el, qname, xs_bool, xs_datetime

VIDEO_SOURCE_TOKEN = "VideoSource_1"
STORAGE_TOKEN = "Storage_1"
QUEUE_LIMIT = 200  # per subscription; the oldest are dropped first, as cameras do
MAX_PULL_WAIT_S = 20.0  # a PullMessages long-poll never holds a request longer than this
CONCRETE_SET = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"


@dataclass(frozen=True, slots=True)
class Topic:
    path: str  # e.g. "tns1:VideoSource/MotionAlarm"
    source_item: str
    source_value: str
    data_item: str


# Fault name -> the property event it raises (true when injected, false when cleared).
TOPICS = {
    "motion": Topic("tns1:VideoSource/MotionAlarm", "Source", VIDEO_SOURCE_TOKEN, "State"),
    "tamper": Topic("tns1:VideoSource/GlobalSceneChange/ImagingService", "Source", VIDEO_SOURCE_TOKEN, "State"),
    "video_loss": Topic("tns1:VideoSource/SignalLoss", "Source", VIDEO_SOURCE_TOKEN, "State"),
    # The ONVIF topic spec names this one's items Token / Failed rather than Source / State.
    "storage_failure": Topic("tns1:Device/HardwareFailure/StorageFailure", "Token", STORAGE_TOKEN, "Failed"),
}


@dataclass(frozen=True, slots=True)
class Notification:
    topic: Topic
    at: datetime  # true time; shown on the camera's clock
    state: bool
    operation: str = "Changed"  # "Initialized" for the current state sent to a new subscriber


@dataclass(eq=False)
class _Subscription:
    sub_id: str
    terminates_at: datetime  # true time
    queue: deque[Notification] = field(default_factory=lambda: deque(maxlen=QUEUE_LIMIT))
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class EventService:
    """Event operations of one camera. `now` is true time; `offset` maps it to camera time."""

    def __init__(self, *, now: Callable[[], datetime], offset: Callable[[], timedelta], default_lifetime_s: float) -> None:
        self._now = now
        self._offset = offset
        self._default_lifetime_s = default_lifetime_s
        self._subscriptions: dict[str, _Subscription] = {}

    def active_count(self) -> int:
        now = self._now()
        return sum(1 for s in self._subscriptions.values() if s.terminates_at > now)

    def publish(self, notification: Notification) -> None:
        for sub in self._subscriptions.values():
            sub.queue.append(notification)
            sub.wake.set()

    def drop_all(self) -> None:
        """A reboot: every subscription is forgotten; waiting pulls return at once."""
        subs, self._subscriptions = self._subscriptions, {}
        for sub in subs.values():
            sub.wake.set()

    def wake_all(self) -> None:
        """Let every waiting PullMessages answer now (the server is about to close)."""
        for sub in self._subscriptions.values():
            sub.wake.set()

    def get_event_properties(self) -> etree._Element:
        return el(
            "tev:GetEventPropertiesResponse",
            el("tev:TopicNamespaceLocation", "http://www.onvif.org/onvif/ver10/topics/topicns.xml"),
            el("wsnt:FixedTopicSet", "true"),
            _topic_set(TOPICS.values()),
            el("wsnt:TopicExpressionDialect", "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"),
            el("wsnt:TopicExpressionDialect", "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete"),
            el("tev:MessageContentFilterDialect", "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter"),
            el("tev:MessageContentSchemaLocation", "http://www.onvif.org/onvif/ver10/schema/onvif.xsd"),
        )

    def create(self, request: etree._Element, *, address: Callable[[str], str], initial: Iterable[Notification]) -> etree._Element:
        """CreatePullPointSubscription; the new subscriber first gets every property's current state."""
        now = self._now()
        requested = child_text(request, "tev:InitialTerminationTime")
        lifetime = self._default_lifetime_s if requested is None else self._lifetime_s(requested, now)
        sub = _Subscription(secrets.token_hex(8), now + timedelta(seconds=lifetime))
        sub.queue.extend(initial)
        self._subscriptions[sub.sub_id] = sub
        return el(
            "tev:CreatePullPointSubscriptionResponse",
            el("tev:SubscriptionReference", el("wsa:Address", address(sub.sub_id))),
            el("wsnt:CurrentTime", self._shown(now)),
            el("wsnt:TerminationTime", self._shown(sub.terminates_at)),
        )

    async def pull_messages(self, sub_id: str, request: etree._Element) -> etree._Element:
        """Queued notifications; with none queued, wait up to the request's Timeout for one."""
        sub = self._live(sub_id)
        timeout_text = child_text(request, "tev:Timeout")
        timeout_s = min(MAX_PULL_WAIT_S, _duration_s(timeout_text) if timeout_text else 1.0)
        limit_text = child_text(request, "tev:MessageLimit")
        limit = int(limit_text) if limit_text and limit_text.isdigit() else QUEUE_LIMIT
        if not sub.queue and timeout_s > 0:
            sub.wake.clear()
            try:
                await asyncio.wait_for(sub.wake.wait(), timeout_s)
            except TimeoutError:
                pass
        messages = [sub.queue.popleft() for _ in range(min(limit, len(sub.queue)))]
        return el(
            "tev:PullMessagesResponse",
            el("tev:CurrentTime", self._shown(self._now())),
            el("tev:TerminationTime", self._shown(sub.terminates_at)),
            *(self._message(m) for m in messages),
        )

    def renew(self, sub_id: str, request: etree._Element) -> etree._Element:
        sub = self._live(sub_id)
        now = self._now()
        requested = child_text(request, "wsnt:TerminationTime")
        lifetime = self._default_lifetime_s if not requested else self._lifetime_s(requested, now)
        sub.terminates_at = now + timedelta(seconds=lifetime)
        return el(
            "wsnt:RenewResponse",
            el("wsnt:TerminationTime", self._shown(sub.terminates_at)),
            el("wsnt:CurrentTime", self._shown(now)),
        )

    def unsubscribe(self, sub_id: str) -> etree._Element:
        self._live(sub_id)
        self._subscriptions.pop(sub_id).wake.set()
        return el("wsnt:UnsubscribeResponse")

    def _live(self, sub_id: str) -> _Subscription:
        sub = self._subscriptions.get(sub_id)
        if sub is not None and sub.terminates_at <= self._now():
            del self._subscriptions[sub_id]
            sub = None
        if sub is None:
            raise SoapFault(
                sender=True,
                subcode="wsrf-rw:ResourceUnknownFault",
                reason=f"no subscription {sub_id!r}: expired, unsubscribed or lost in a reboot",
            )
        return sub

    def _lifetime_s(self, text: str, now: datetime) -> float:
        """An xs:duration, or an absolute time on the camera's clock, as seconds from now."""
        if text.lstrip("-").startswith("P"):
            seconds = _duration_s(text)
        else:
            try:
                at = datetime.fromisoformat(text)
            except ValueError:
                at = None
            if at is None or at.tzinfo is None:
                raise _unacceptable(f"not an xs:dateTime or xs:duration: {text!r}")
            seconds = (at - (now + self._offset())).total_seconds()
        if seconds <= 0:
            raise _unacceptable(f"termination time {text!r} is not in the future")
        return seconds

    def _shown(self, at: datetime) -> str:
        return xs_datetime(at + self._offset())

    def _message(self, n: Notification) -> etree._Element:
        message = el(
            "tt:Message",
            el("tt:Source", el("tt:SimpleItem", Name=n.topic.source_item, Value=n.topic.source_value)),
            el("tt:Data", el("tt:SimpleItem", Name=n.topic.data_item, Value=xs_bool(n.state))),
            UtcTime=self._shown(n.at),
            PropertyOperation=n.operation,
        )
        return el(
            "wsnt:NotificationMessage",
            el("wsnt:Topic", n.topic.path, Dialect=CONCRETE_SET),
            el("wsnt:Message", message),
        )


def _unacceptable(reason: str) -> SoapFault:
    return SoapFault(sender=True, subcode="wsnt:UnacceptableTerminationTimeFault", reason=reason)


_DURATION = re.compile(
    r"^P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def _duration_s(text: str) -> float:
    """xs:duration in seconds (a year 365 days, a month 30); negative ones count as 0."""
    negative = text.startswith("-")
    match = _DURATION.match(text.lstrip("-"))
    if match is None or text.rstrip("T").endswith("P"):
        raise SoapFault(sender=True, subcode="ter:InvalidArgVal", reason=f"not an xs:duration: {text!r}")
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    seconds = (
        parts["y"] * 365 * 86400 + parts["mo"] * 30 * 86400 + parts["d"] * 86400
        + parts["h"] * 3600 + parts["mi"] * 60 + parts["s"]
    )
    return 0.0 if negative else seconds


def _topic_set(topics: Iterable[Topic]) -> etree._Element:
    """wstop:TopicSet: nested tns1 elements, the leaf marked as a topic with its message schema."""
    root = el("wstop:TopicSet")
    for topic in topics:
        parent = root
        *branches, leaf = topic.path.removeprefix("tns1:").split("/")
        for name in branches:
            found = parent.find(qname(f"tns1:{name}"))
            parent = found if found is not None else etree.SubElement(parent, qname(f"tns1:{name}"))
        described = el(
            "tt:MessageDescription",
            el("tt:Source", el("tt:SimpleItemDescription", Name=topic.source_item, Type="tt:ReferenceToken")),
            el("tt:Data", el("tt:SimpleItemDescription", Name=topic.data_item, Type="xs:boolean")),
            IsProperty="true",
        )
        leaf_el = el(f"tns1:{leaf}", described)
        leaf_el.set(qname("wstop:topic"), "true")
        parent.append(leaf_el)
    return root
