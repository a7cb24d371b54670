"""A minimal writer of TensorFlow tensor bundles, for crafting damaged and hostile checkpoints (hostile.py, tests).

It writes what tf_bundle reads (one data block, one index block, the footer), with any entry
fields, so that each check of the reader can be met by a file TensorFlow would never write.
"""
from __future__ import annotations

import struct

import google_crc32c
import numpy as np

MAGIC = 0xDB4775248B80FB57


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number: int, value: int | bytes, fixed32: bool = False) -> bytes:
    if isinstance(value, bytes):
        return varint(number << 3 | 2) + varint(len(value)) + value
    if fixed32:
        return varint(number << 3 | 5) + struct.pack("<I", value)
    return varint(number << 3) + varint(value)


def masked(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def entry(dtype: int, shape: tuple[int, ...], offset: int, size: int, crc: int, shard: int = 0,
          sliced: bool = False) -> bytes:
    dims = b"".join(field(2, field(1, size_)) for size_ in shape)
    body = field(1, dtype) + field(2, dims) + field(3, shard) + field(4, offset) + field(5, size)
    body += field(6, crc, fixed32=True)
    return body + (field(7, b"\x0a\x00") if sliced else b"")


def _block(items: list[tuple[bytes, bytes]]) -> bytes:
    data, restarts = bytearray(), []
    for key, value in items:
        restarts.append(len(data))
        data += varint(0) + varint(len(key)) + varint(len(value)) + key + value
    data += b"".join(struct.pack("<I", r) for r in restarts or [0]) + struct.pack("<I", len(restarts or [0]))
    return bytes(data)


def _with_trailer(block: bytes) -> bytes:
    return block + b"\x00" + struct.pack("<I", masked(google_crc32c.value(block + b"\x00")))


def write_bundle(prefix: str, entries: list[tuple[str, bytes]], data: bytes, shards: int = 1) -> None:
    """PREFIX.index with `entries` (name, BundleEntryProto bytes), and PREFIX.data-00000-of-0000n holding `data`."""
    items = [(b"", field(1, shards))] + sorted((name.encode(), value) for name, value in entries)
    data_block = _block(items)
    out = bytearray(_with_trailer(data_block))
    index_block = _block([(items[-1][0] + b"\xff", varint(0) + varint(len(data_block)))])
    index_offset = len(out)
    out += _with_trailer(index_block)
    meta_block = _block([])
    meta_offset = len(out)
    out += _with_trailer(meta_block)
    handles = varint(meta_offset) + varint(len(meta_block)) + varint(index_offset) + varint(len(index_block))
    out += handles + b"\x00" * (40 - len(handles)) + struct.pack("<Q", MAGIC)
    with open(prefix + ".index", "wb") as handle:
        handle.write(bytes(out))
    with open(f"{prefix}.data-00000-of-{shards:05d}", "wb") as handle:
        handle.write(data)


def tensor_entry(array: np.ndarray, **changes: object) -> bytes:
    """The entry TensorFlow would write for `array` at offset 0, with any field changed."""
    raw = np.ascontiguousarray(array).tobytes()
    dtype = {"float32": 1, "float64": 2, "int32": 3}[array.dtype.name]
    values: dict[str, object] = dict(dtype=dtype, shape=tuple(array.shape), offset=0, size=len(raw),
                  crc=masked(google_crc32c.value(raw)))
    values.update(changes)
    return entry(values["dtype"], values["shape"], values["offset"], values["size"], values["crc"],  # type: ignore
                 shard=changes.get("shard", 0), sliced=bool(changes.get("sliced", 0)))  # type: ignore
