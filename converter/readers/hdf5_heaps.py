"""Variable-length attributes checked byte by byte before the HDF5 library reads them.

Keras stores strings (model_config, layer_names, weight_names) as variable-length
attributes: the attribute holds (length, heap collection address, object index) and the
text lies in a global heap collection. libhdf5 (1.14.6) loops forever on a collection
whose free-space object has size 0, a fuzzed 11 KB file was enough. So before a
variable-length attribute is read, its raw message is found in its object's header (v1 or
v2, continuation chunks followed), and every collection it points to is walked here the way
libhdf5 walks it, with a bound: a collection libhdf5 could not get through is refused.
"""
from __future__ import annotations

import struct
import weakref
from typing import Any, Callable

import h5py

from ..errors import ReadError

RawReader = Callable[[int, int], bytes]  # (address from the HDF5 base, length) -> bytes
_RAW: "weakref.WeakKeyDictionary[Any, tuple[RawReader, int, int]]" = weakref.WeakKeyDictionary()
_CHECKED: "weakref.WeakKeyDictionary[Any, set[int]]" = weakref.WeakKeyDictionary()
_ATTRIBUTE, _CONTINUATION = 0x000C, 0x0010
_VLEN = 9


def register(h5: h5py.File, read: RawReader, size: int) -> None:
    """Say how to read `h5`'s raw bytes (addresses counted from its base) and how many there are."""
    offsets, lengths = h5.id.get_create_plist().get_sizes()
    _RAW[h5.id] = (read, size, offsets)
    _CHECKED[h5.id] = set()
    if lengths != 8 or offsets not in (4, 8):
        raise ReadError(f"{h5.filename}: HDF5 address sizes ({offsets}, {lengths}) that Keras files never have")


def check_attribute(obj: Any, name: str, where: str) -> None:
    """Refuse a variable-length attribute whose heap libhdf5 could not read safely."""
    fid = obj.file.id
    if fid not in _RAW:
        raise ReadError(f"{where}: weightport reads variable-length attributes of registered files only")
    read, size, offsets = _RAW[fid]
    info = h5py.h5o.get_info(obj.id)
    message = _find_attribute(read, size, offsets, info.addr, info.hdr.version, name.encode(), where)
    if message is None:
        raise ReadError(f"{where}: attribute {name!r} is not where its object header should hold it (dense or "
                        "shared attribute storage, which Keras never writes)")
    for address, index, length in _references(message, offsets, where, name):
        if address == 0 and length == 0:
            continue  # an empty string: nothing on the heap
        if address not in _CHECKED[fid]:
            _check_collection(read, size, address, where)
            _CHECKED[fid].add(address)


def _find_attribute(read: RawReader, size: int, offsets: int, address: int, version: int, name: bytes,
                    where: str) -> bytes | None:
    """The raw attribute message called `name` in the object header at `address`."""
    chunks: list[tuple[int, int]] = []
    if version == 1:
        prefix = _read(read, size, address, 16, where)
        if prefix[0] != 1:
            raise ReadError(f"{where}: object header at {address} is damaged")
        chunk_size = struct.unpack_from("<I", prefix, 8)[0]
        chunks.append((address + 16, chunk_size))
    else:
        prefix = _read(read, size, address, 6, where)
        if prefix[:4] != b"OHDR" or prefix[4] != 2:
            raise ReadError(f"{where}: object header at {address} is damaged")
        flags = prefix[5]
        start = address + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 0x3)
        chunk_size = int.from_bytes(_read(read, size, start, width, where), "little")
        chunks.append((start + width, chunk_size))  # chunk 0: messages and a gap; its checksum follows
    seen = 0
    while chunks:
        start, length = chunks.pop(0)
        seen += 1
        if seen > 10_000 or length > size:
            raise ReadError(f"{where}: object header at {address} is damaged")
        data = _read(read, size, start, length, where)
        if version == 2 and seen > 1:  # a continuation chunk: signature, messages, gap, checksum
            if data[:4] != b"OCHK":
                raise ReadError(f"{where}: object header continuation at {start} is damaged")
            data = data[4:-4]
        position = 0
        header = 8 if version == 1 else 4 + (2 if flags & 0x04 else 0)
        end = len(data)
        while position + header <= end:
            if version == 1:
                kind, message_size = struct.unpack_from("<HH", data, position)
            else:
                kind, message_size = data[position], struct.unpack_from("<H", data, position + 1)[0]
            body = data[position + header: position + header + message_size]
            position += header + message_size
            if kind == _CONTINUATION and len(body) >= offsets + 8:
                chunks.append((int.from_bytes(body[:offsets], "little"),
                               int.from_bytes(body[offsets:offsets + 8], "little")))
            elif kind == _ATTRIBUTE and _attribute_name(body) == name:
                return body
    return None


def _attribute_name(body: bytes) -> bytes | None:
    if len(body) < 8:
        return None
    version = body[0]
    name_size = struct.unpack_from("<H", body, 2)[0]
    start = 8 if version == 1 else 8 if version == 2 else 9
    return body[start:start + name_size].rstrip(b"\0") if len(body) >= start + name_size else None


def _references(body: bytes, offsets: int, where: str, name: str) -> list[tuple[int, int, int]]:
    """(heap collection address, object index, length) of each element of a variable-length attribute."""
    try:
        version, flags = body[0], body[1]
        name_size, type_size, space_size = struct.unpack_from("<HHH", body, 2)
        if flags & 0x3:
            raise ValueError("shared datatype or dataspace")
        pad = (lambda n: -(-n // 8) * 8) if version == 1 else (lambda n: n)
        position = (8 if version in (1, 2) else 9) + pad(name_size)
        datatype = body[position:position + type_size]
        position += pad(type_size)
        space = body[position:position + space_size]
        position += pad(space_size)
        if datatype[0] & 0x0F != _VLEN:
            return []  # fixed-size data: nothing on a heap
        count = _element_count(space)
        element = 4 + offsets + 4
        references = []
        for index in range(count):
            start = position + index * element
            length, = struct.unpack_from("<I", body, start)
            address = int.from_bytes(body[start + 4:start + 4 + offsets], "little")
            heap_index, = struct.unpack_from("<I", body, start + 4 + offsets)
            references.append((address, heap_index, length))
        return references
    except (IndexError, struct.error, ValueError) as error:
        raise ReadError(f"{where}: attribute {name!r} has a damaged message ({error})") from None


def _element_count(space: bytes) -> int:
    version, rank = space[0], space[1]
    if version == 1:
        dims_start = 8
    elif version == 2:
        if space[3] == 2:  # null dataspace
            return 0
        dims_start = 4
    else:
        raise ValueError(f"dataspace version {version}")
    count = 1
    for axis in range(rank):
        count *= int.from_bytes(space[dims_start + 8 * axis: dims_start + 8 * axis + 8], "little")
    if count > 1 << 24:
        raise ValueError(f"{count} elements")
    return count


def _check_collection(read: RawReader, size: int, address: int, where: str) -> None:
    """Walk a global heap collection as libhdf5 does, refusing what would loop or overrun it."""
    header = _read(read, size, address, 16, where)
    if header[:4] != b"GCOL" or header[4] != 1:
        raise ReadError(f"{where}: a string points to {address}, which is not a global heap collection")
    length = int.from_bytes(header[8:16], "little")
    if length < 16 or address + length > size:
        raise ReadError(f"{where}: global heap collection at {address} declares {length} bytes past the file's end")
    data = _read(read, size, address, length, where)
    position = 16
    while position < length:
        if position + 16 > length:
            break  # too small for an object header: free space
        index, = struct.unpack_from("<H", data, position)
        object_size = int.from_bytes(data[position + 8:position + 16], "little")
        # libhdf5's size_t arithmetic, wrap-around included
        step = (16 + ((object_size + 7) & ~7)) % (1 << 64) if index else object_size
        if step == 0:
            raise ReadError(f"{where}: global heap collection at {address} is damaged (an empty free-space "
                            "object that libhdf5 would loop on); the file is damaged or crafted")
        position += step


def _read(read: RawReader, size: int, address: int, length: int, where: str) -> bytes:
    if address < 0 or length < 0 or address + length > size:
        raise ReadError(f"{where}: HDF5 structure at {address} runs past the end of the file")
    data = read(address, length)
    if len(data) != length:
        raise ReadError(f"{where}: HDF5 structure at {address} is truncated")
    return data
