"""The client's own parsing of register replies gives what pymodbus' decoder gives, and
leaves every other reply to pymodbus; its own Modbus TCP requests are pymodbus' bytes."""

from __future__ import annotations

import struct

import pytest
from pymodbus.framer import FramerSocket
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.bit_message import ReadCoilsRequest, ReadDiscreteInputsRequest
from pymodbus.pdu.register_message import ReadHoldingRegistersRequest, ReadInputRegistersRequest

from sitewatch.collector.modbus.client import _FUNCTION_CODE, _MBAP_READ, _RegisterReplies


class Counting:
    """pymodbus' client-side decoder, counting the frames it is handed."""

    def __init__(self) -> None:
        self.decoder = DecodePDU(False)
        self.frames = 0

    def decode(self, frame: bytes):
        self.frames += 1
        return self.decoder.decode(frame)


def registers(function_code: int, words: list[int]) -> bytes:
    return struct.pack(f">BB{len(words)}H", function_code, 2 * len(words), *words)


@pytest.mark.parametrize("frame", [
    registers(3, list(range(0, 65536, 3641))),  # 18 words, as a regulator's poll
    registers(4, [1, 0xFFFF]),
    registers(3, [0x1234]),
], ids=["holding-18", "input-2", "holding-1"])
def test_usual_register_replies_are_parsed_here_as_pymodbus_would(frame: bytes):
    theirs = DecodePDU(False).decode(frame)
    counting = Counting()
    ours = _RegisterReplies(counting).decode(frame)
    assert counting.frames == 0, "a usual register reply should not reach pymodbus' decoder"
    assert type(ours) is type(theirs)
    assert ours.function_code == theirs.function_code
    assert ours.registers == theirs.registers and len(ours.registers) == frame[1] // 2


@pytest.mark.parametrize("frame", [
    bytes([3, 5, 0, 1, 0, 2, 0]),  # odd byte count
    bytes([3, 6, 0, 1, 0, 2]),  # byte count beyond the data
    bytes([3, 2, 0, 1, 0, 2]),  # data beyond the byte count
    bytes([0x83, 2]),  # exception: illegal data address
    bytes([1, 1, 0b101]),  # coils
    bytes([3]),  # nothing after the function code
], ids=["odd-count", "short-data", "long-data", "exception", "coils", "bare-code"])
def test_other_replies_are_left_to_pymodbus(frame: bytes):
    theirs = DecodePDU(False).decode(frame)
    counting = Counting()
    ours = _RegisterReplies(counting).decode(frame)
    assert counting.frames == 1
    assert type(ours) is type(theirs)
    if theirs is not None:
        assert ours.registers == theirs.registers and ours.bits == theirs.bits


def test_what_else_the_framer_asks_goes_to_pymodbus():
    decoder = DecodePDU(False)
    assert _RegisterReplies(decoder).lookupPduClass(registers(3, [7])) is decoder.lookupPduClass(registers(3, [7]))


@pytest.mark.parametrize(("table", "request_class"), [
    ("holding", ReadHoldingRegistersRequest), ("input", ReadInputRegistersRequest),
    ("coil", ReadCoilsRequest), ("discrete", ReadDiscreteInputsRequest)])
def test_a_tcp_read_request_is_the_frame_pymodbus_would_send(table: str, request_class):
    request = request_class(address=40_000, count=125, dev_id=247)
    request.transaction_id = 65_000
    theirs = FramerSocket(DecodePDU(False)).buildFrame(request)
    assert _MBAP_READ.pack(65_000, 0, 6, 247, _FUNCTION_CODE[table], 40_000, 125) == theirs
