"""The few protocol buffer messages weightport reads, decoded from the wire format by field number.

Only varints, fixed32/64 and length-delimited fields exist on the wire; a message is read into
{field number: [values]} and the caller picks the fields it knows (everything else is skipped,
as protobuf readers do). Bounds are checked: a damaged or crafted message is a ReadError.
"""
from __future__ import annotations

import struct

from ..errors import ReadError

Fields = dict[int, list[object]]


def varint(data: bytes, position: int, where: str) -> tuple[int, int]:
    """The varint at `position` and the position after it."""
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ReadError(f"{where}: a truncated or overlong varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def message(data: bytes, where: str) -> Fields:
    """Every field of one message: varints and fixed values as ints, length-delimited ones as bytes."""
    fields: Fields = {}
    position = 0
    while position < len(data):
        key, position = varint(data, position, where)
        number, wire = key >> 3, key & 7
        value: object
        if wire == 0:
            value, position = varint(data, position, where)
        elif wire == 1:
            if position + 8 > len(data):
                raise ReadError(f"{where}: a truncated fixed64 field")
            value, position = struct.unpack_from("<Q", data, position)[0], position + 8
        elif wire == 2:
            length, position = varint(data, position, where)
            if position + length > len(data):
                raise ReadError(f"{where}: a field runs past the end of its message")
            value, position = bytes(data[position:position + length]), position + length
        elif wire == 5:
            if position + 4 > len(data):
                raise ReadError(f"{where}: a truncated fixed32 field")
            value, position = struct.unpack_from("<I", data, position)[0], position + 4
        else:
            raise ReadError(f"{where}: wire type {wire} is not protocol buffers' (the data is damaged)")
        fields.setdefault(number, []).append(value)
    return fields


def first_int(fields: Fields, number: int, default: int = 0) -> int:
    values = [value for value in fields.get(number, []) if isinstance(value, int)]
    return values[-1] if values else default


def first_bytes(fields: Fields, number: int) -> bytes:
    values = [value for value in fields.get(number, []) if isinstance(value, bytes)]
    return values[-1] if values else b""


def all_bytes(fields: Fields, number: int) -> list[bytes]:
    return [value for value in fields.get(number, []) if isinstance(value, bytes)]


def signed(value: int) -> int:
    """An int64 field read as a varint: two's complement."""
    return value - (1 << 64) if value >= 1 << 63 else value
