"""Every object header of an HDF5 file read byte by byte before the HDF5 library decodes it.

libhdf5 (1.14.6) loops forever on a global heap collection whose free-space object has size
0; a fuzzed 11 KB file was enough, through a variable-length attribute (Keras keeps its
strings there: model_config, layer_names, weight_names) or through a virtual dataset's
layout, which is decoded as soon as the object is visited. So at open, after the link walk,
each object's header (v1 or v2, continuation chunks followed) is read here: what points
outside the file is refused, and every heap collection an attribute points to is walked as
libhdf5 walks it, with a bound.
"""
from __future__ import annotations

import struct
import weakref
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ReadError

if TYPE_CHECKING:
    import h5py

RawReader = Callable[[int, int], bytes]  # (address from the HDF5 base, length) -> bytes
_RAW: "weakref.WeakKeyDictionary[Any, tuple[RawReader, int, int]]" = weakref.WeakKeyDictionary()
_CHECKED: "weakref.WeakKeyDictionary[Any, set[int]]" = weakref.WeakKeyDictionary()
_EXTERNAL_FILES, _LAYOUT, _ATTRIBUTE, _CONTINUATION, _ATTRIBUTE_INFO = 0x0007, 0x0008, 0x000C, 0x0010, 0x0015
_VLEN = 9


def register(h5: h5py.File, read: RawReader, size: int) -> None:
    """Say how to read `h5`'s raw bytes (addresses counted from its base) and how many there are."""
    offsets, lengths = h5.id.get_create_plist().get_sizes()
    _RAW[h5.id] = (read, size, offsets)
    _CHECKED[h5.id] = set()
    if lengths != 8 or offsets not in (4, 8):
        raise ReadError(f"{h5.filename}: HDF5 address sizes ({offsets}, {lengths}) that Keras files never have")


def check_objects(h5: h5py.File, addresses: set[int], where: str) -> None:
    """Read the header of every object at `addresses` before libhdf5 decodes any of them.

    Refused: external data files, virtual layouts (both read other files, and a virtual
    layout's mapping sits on a global heap libhdf5 walks as it decodes the header), dense
    attribute storage (its strings could not be checked), and any variable-length attribute
    whose heap collection libhdf5 could not walk.
    """
    read, size, offsets = _RAW[h5.id]
    checked = _CHECKED[h5.id]
    for address in sorted(addresses):
        for kind, _, body in messages(read, size, offsets, address, where):
            if kind == _EXTERNAL_FILES:
                raise ReadError(f"{where}: a dataset's bytes are stored in an external file; weightport reads "
                                "nothing outside the given file")
            if kind == _LAYOUT and len(body) > 1 and body[0] == 4 and body[1] == 3:
                raise ReadError(f"{where}: a virtual dataset (its data lives in other files); weightport reads "
                                "nothing outside the given file")
            if kind == _ATTRIBUTE_INFO and _dense(body, offsets):
                raise ReadError(f"{where}: an object keeps its attributes in dense storage, which Keras never "
                                "writes; weightport does not read it")
            if kind == _ATTRIBUTE:
                for heap, _, length in _references(body, offsets, where, "(unreadable name)"):
                    if (heap or length) and heap not in checked:
                        _check_collection(read, size, heap, where)
                        checked.add(heap)


def _dense(body: bytes, offsets: int) -> bool:
    """Whether an Attribute Info message points to a fractal heap of attributes."""
    if len(body) < 2:
        return False
    start = 2 + (2 if body[1] & 0x1 else 0)
    address = body[start:start + offsets]
    return len(address) == offsets and address != b"\xff" * offsets


def messages(read: RawReader, size: int, offsets: int, address: int, where: str) -> list[tuple[int, int, bytes]]:
    """(type, flags, body) of every message in the object header at `address`, continuation chunks followed."""
    first = _read(read, size, address, 16, where)
    chunks: list[tuple[int, int]] = []
    if first[:4] == b"OHDR":
        version, flags = 2, first[5]
        start = address + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 0x3)
        chunk_size = int.from_bytes(_read(read, size, start, width, where), "little")
        chunks.append((start + width, chunk_size))  # chunk 0: messages and a gap; its checksum follows
    elif first[0] == 1:
        version, flags = 1, 0
        chunks.append((address + 16, struct.unpack_from("<I", first, 8)[0]))
    else:
        raise ReadError(f"{where}: object header at {address} is damaged")
    found: list[tuple[int, int, bytes]] = []
    seen = 0
    while chunks:
        start, length = chunks.pop(0)
        seen += 1
        if seen > 1000 or length > size:
            raise ReadError(f"{where}: object header at {address} is damaged")
        data = _read(read, size, start, length, where)
        if version == 2 and seen > 1:  # a continuation chunk: signature, messages, gap, checksum
            if data[:4] != b"OCHK":
                raise ReadError(f"{where}: object header continuation at {start} is damaged")
            data = data[4:-4]
        position = 0
        header = 8 if version == 1 else 4 + (2 if flags & 0x04 else 0)
        while position + header <= len(data):
            if version == 1:
                kind, message_size, flags_of = struct.unpack_from("<HHB", data, position)
            else:
                kind, message_size, flags_of = data[position], struct.unpack_from("<H", data, position + 1)[0], \
                    data[position + 3]
            body = data[position + header: position + header + message_size]
            position += header + message_size
            if kind == _CONTINUATION and len(body) >= offsets + 8:
                chunks.append((int.from_bytes(body[:offsets], "little"),
                               int.from_bytes(body[offsets:offsets + 8], "little")))
            else:
                found.append((kind, flags_of, body))
    return found


def _references(body: bytes, offsets: int, where: str, name: str) -> list[tuple[int, int, int]]:
    """(heap collection address, object index, length) of each element of a variable-length attribute."""
    try:
        version, flags = body[0], body[1]
        name_size, type_size, space_size = struct.unpack_from("<HHH", body, 2)
        if flags & 0x3:
            raise ValueError("shared datatype or dataspace")
        pad = (lambda n: -(-n // 8) * 8) if version == 1 else (lambda n: n)
        position = 8 if version in (1, 2) else 9
        name = repr(body[position:position + name_size].rstrip(b"\0").decode("utf-8", "replace")[:40])
        position += pad(name_size)
        datatype = body[position:position + type_size]
        position += pad(type_size)
        space = body[position:position + space_size]
        position += pad(space_size)
        _check_datatype(datatype)
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
        raise ReadError(f"{where}: attribute {name} has a damaged message ({error}); the file is damaged or "
                        "crafted") from None


def _check_datatype(datatype: bytes) -> None:
    """ValueError for an attribute datatype libhdf5 may mis-decode (a fuzzed variable-length
    type field made it crash): a known class and version, and a variable-length type only as
    the strings h5py and Keras write (one-byte characters, known padding and character set)."""
    version, kind = datatype[0] >> 4, datatype[0] & 0x0F
    if not 1 <= version <= 5 or kind > 10:
        raise ValueError(f"datatype class {kind} version {version}")
    if kind != _VLEN:
        return
    vlen_type, padding, charset = datatype[1] & 0x0F, datatype[1] >> 4, datatype[2] & 0x0F
    if vlen_type != 1 or padding > 2 or charset > 1:
        raise ValueError("a variable-length type that is not a string")
    base = datatype[8:]
    if len(base) < 8 or base[0] >> 4 not in (1, 2, 3) or base[0] & 0x0F not in (0, 3) or \
            struct.unpack_from("<I", base, 4)[0] != 1:
        raise ValueError("a variable-length string of characters wider than one byte")


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
