"""Acknowledgements leave in the order the messages came, whatever order they are done in."""

from __future__ import annotations

import threading

from sitewatch.collector.mqtt.acks import InOrderAcks
from sitewatch.collector.mqtt.client import MqttMessage


def message(mid: int) -> MqttMessage:
    return MqttMessage("t", b"", retained=False, duplicate=False, mid=mid, qos=1)


def test_a_message_done_early_waits_for_the_ones_before_it():
    sent: list[int] = []
    acks = InOrderAcks(lambda m: sent.append(m.mid))
    first, second, third = (acks.receive(message(mid)) for mid in (1, 2, 3))
    third.stored()  # malformed, say: done at once
    second.stored()
    assert sent == [] and acks.waiting == 3, "1 is still on its way to the store"
    first.stored()
    assert sent == [1, 2, 3] and acks.waiting == 0


def test_a_duplicate_is_acknowledged_when_its_original_is_stored():
    sent: list[int] = []
    acks = InOrderAcks(lambda m: sent.append(m.mid))
    original = acks.receive(message(1))
    later = acks.receive(message(2))
    copy = acks.receive(message(3))
    acks.settle_with(copy, original)
    later.stored()
    assert sent == []
    original.stored()
    assert sent == [1, 2, 3]
    known = acks.receive(message(4))
    acks.settle_with(known, None)  # stored by an earlier process
    assert sent == [1, 2, 3, 4]


def test_settled_from_many_threads_the_order_holds():
    sent: list[int] = []
    acks = InOrderAcks(lambda m: sent.append(m.mid))
    deliveries = [acks.receive(message(mid)) for mid in range(2_000)]
    threads = [threading.Thread(target=lambda part=part: [d.stored() for d in part])
               for part in (deliveries[1::2], deliveries[::2][::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sent == list(range(2_000))
