"""The HDF5 files Keras 3 writes, read from their bytes in one pass: the fast path of its reader.

Keras writes its weights through h5py's defaults, which give one simple shape of HDF5: a
version-0 superblock, groups as symbol tables (a B-tree of symbol nodes, names in a local
heap), contiguous unfiltered datasets, and string attributes. Through h5py every object
costs calls into libhdf5, and inside a `.keras` archive every read a call into a Python
file object: NASNetMobile's 2,670 objects took half a second. Here the tree is read from a
memory map of the file, every address and size checked against the bytes there are.

Anything else (new-style or dense groups, links that are not hard links, an object reached
twice, chunked, compressed, compact, virtual or external data, shared messages, big-endian
or unusual types, a userblock, anything damaged) raises NotSimple and the reader takes the
h5py path, whose checks (hdf5_checks) refuse what Keras never writes, with their messages.
Nothing read here reaches libhdf5.
"""
from __future__ import annotations

import math
import mmap
import struct
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Union

from ..errors import ReadError
from .hdf5_headers import messages

SIGNATURE = b"\x89HDF\r\n\x1a\n"
UNDEFINED = (1 << 64) - 1
MAX_DEPTH = 64  # groups nested, and B-tree levels
MAX_OBJECTS = 1 << 20
# message types (HDF5 file format specification, section IV.A.2)
_NIL, _DATASPACE, _DATATYPE, _FILL_OLD, _FILL, _LAYOUT, _ATTRIBUTE, _MODIFIED, _SYMBOL_TABLE = \
    0x00, 0x01, 0x03, 0x04, 0x05, 0x08, 0x0C, 0x12, 0x11
_GROUP_MESSAGES = {_NIL, _SYMBOL_TABLE, _ATTRIBUTE, _MODIFIED}
_DATASET_MESSAGES = {_NIL, _DATASPACE, _DATATYPE, _FILL_OLD, _FILL, _LAYOUT, _ATTRIBUTE, _MODIFIED}
_SHARED = 0x02  # a message flag: the body points to a message stored elsewhere
# IEEE floats as HDF5 describes them: size -> (precision, exponent at, exponent bits, mantissa bits, bias, sign bit)
_IEEE = {2: (16, 10, 5, 10, 15, 15), 4: (32, 23, 8, 23, 127, 31), 8: (64, 52, 11, 52, 1023, 63)}


@dataclass
class Store:
    """The bytes of one HDF5 file (as h5py or this module reads them): where they lie on disk, how many.

    `path` and `start` locate byte 0 (a `.keras` archive holds its weights file at an offset),
    `size` bounds every offset a dataset may declare; `path` is None when the bytes are not
    a plain file region (nothing is memory-mapped then). `used` runs when a tensor's bytes are
    first read (a zip member starts checking its CRC then).
    """

    path: str | None
    start: int
    size: int
    used: Callable[[], None] = field(default=lambda: None, repr=False)


class NotSimple(Exception):
    """The file holds what only the h5py path reads (and checks)."""


@dataclass
class TreeDataset:
    """A contiguous dataset: its shape, dtype name ('bfloat16' for Keras's 2-byte opaque type) and bytes."""

    name: str  # its absolute path, as h5py's Dataset.name
    shape: tuple[int, ...]
    dtype: str
    offset: int  # of its first byte, counted from the HDF5 file's first byte
    nbytes: int


@dataclass
class TreeGroup:
    """A group: its members in h5py's order (by name) and its string attributes."""

    name: str  # its absolute path, as h5py's Group.name
    members: dict[str, "TreeGroup | TreeDataset"] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)  # `name` (Keras's record of a layer's name)
    attribute_names: set[str] = field(default_factory=set)  # every attribute it has

    def __iter__(self) -> Iterator[str]:
        return iter(self.members)

    def __contains__(self, path: str) -> bool:
        return self._find(path) is not None

    def __getitem__(self, path: str) -> "TreeGroup | TreeDataset":
        found = self._find(path)
        if found is None:
            raise KeyError(path)
        return found

    def _find(self, path: str) -> "TreeGroup | TreeDataset | None":
        node: TreeGroup | TreeDataset = self
        for part in path.strip("/").split("/"):
            if not isinstance(node, TreeGroup) or part not in node.members:
                return None
            node = node.members[part]
        return node

    def visititems(self, visit: Callable[[str, Any], Any]) -> Any:
        """h5py's visititems: `visit(relative name, object)` for everything below, in name order, depth
        first; a value other than None stops the walk and is returned."""
        for name, member in self.members.items():
            found = visit(name, member)
            if found is not None:
                return found
            if isinstance(member, TreeGroup):
                found = member.visititems(lambda inner, item: visit(f"{name}/{inner}", item))
                if found is not None:
                    return found
        return None


Node = Union[TreeGroup, TreeDataset]


def read_tree(path: str, start: int, size: int) -> TreeGroup:
    """The root group of the HDF5 file that is `size` bytes of `path` from `start`; NotSimple when it is not
    the simple shape Keras writes (or cannot be read here at all)."""
    try:
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            if start < 0 or size <= 0 or start + size > len(mapped):
                raise NotSimple("the bytes are not all there")

            def read(address: int, length: int) -> bytes:
                return mapped[start + address:start + address + length]

            return _Walk(read, size).root()
    except (OSError, ValueError, IndexError, struct.error, UnicodeDecodeError, RecursionError, ReadError) as error:
        raise NotSimple(str(error)) from None


def simple_tree(path: str, start: int, size: int) -> TreeGroup | None:
    """read_tree, or None when the file is not of the simple shape Keras writes (h5py reads it then)."""
    try:
        return read_tree(path, start, size)
    except NotSimple:
        return None


class _Walk:
    """One pass over a file's bytes: each object header, B-tree and symbol node read once, global heap
    collections decoded once."""

    def __init__(self, read: Callable[[int, int], bytes], size: int) -> None:
        self.read_raw, self.size = read, size
        self.seen: set[int] = set()  # object headers, B-tree and symbol nodes: each read once
        self.heaps: dict[int, dict[int, bytes]] = {}  # global heap collections by address: their objects

    def read(self, address: int, length: int) -> bytes:
        if address < 0 or length < 0 or address + length > self.size:
            raise NotSimple(f"a structure at {address} runs past the end")
        return self.read_raw(address, length)

    def once(self, address: int) -> None:
        if address in self.seen or len(self.seen) > MAX_OBJECTS:
            raise NotSimple(f"the structure at {address} is reached twice")
        self.seen.add(address)

    def root(self) -> TreeGroup:
        head = self.read(0, 96)
        if head[:8] != SIGNATURE or head[8] != 0 or head[13] != 8 or head[14] != 8:
            raise NotSimple("not a version-0 superblock with 8-byte addresses")
        base, _, end, driver = struct.unpack_from("<4Q", head, 24)
        if base != 0 or driver != UNDEFINED or end > self.size:
            raise NotSimple("a base address, a driver block or a file shorter than it says")
        header, = struct.unpack_from("<Q", head, 64)
        root = self.node("/", header, 0)
        if not isinstance(root, TreeGroup):
            raise NotSimple("the root is not a group")
        return root

    def node(self, name: str, address: int, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise NotSimple("groups nested too deep")
        self.once(address)
        found = messages(self.read_raw, self.size, 8, address, name)  # it checks each read against the size
        kinds = {kind for kind, _, _ in found}
        if any(flags & _SHARED for _, flags, _ in found):
            raise NotSimple(f"{name}: a shared message")
        if _SYMBOL_TABLE in kinds and kinds <= _GROUP_MESSAGES:
            return self.group(name, found, depth)
        if _LAYOUT in kinds and kinds <= _DATASET_MESSAGES:
            return self.dataset(name, found)
        raise NotSimple(f"{name}: an object of messages {sorted(kinds)}")

    def group(self, name: str, found: list[tuple[int, int, bytes]], depth: int) -> TreeGroup:
        group = TreeGroup(name)
        for kind, _, body in found:
            if kind == _SYMBOL_TABLE:
                btree, heap = struct.unpack_from("<QQ", body)
                names = self.local_heap(heap)
                for link, header in self.links(btree, names, 0):
                    if not link or "/" in link or link in group.members:
                        raise NotSimple(f"{name}: a link named {link!r}, or twice")
                    path = f"{name.rstrip('/')}/{link}"
                    group.members[link] = self.node(path, header, depth + 1)
            elif kind == _ATTRIBUTE:
                attribute, value = self.attribute(body)
                group.attribute_names.add(attribute)
                if attribute == "name":
                    group.attributes[attribute] = value()
        return group

    def local_heap(self, address: int) -> bytes:
        head = self.read(address, 32)
        if head[:4] != b"HEAP" or head[4] != 0:
            raise NotSimple(f"no local heap at {address}")
        length, _, data = struct.unpack_from("<3Q", head, 8)
        return self.read(data, length)

    def links(self, address: int, names: bytes, level: int) -> Iterator[tuple[str, int]]:
        """(name, object header) of each entry of a group's B-tree, in its (name) order."""
        if level > MAX_DEPTH:
            raise NotSimple("a B-tree too deep")
        self.once(address)
        head = self.read(address, 24)
        if head[:4] != b"TREE" or head[4] != 0:
            raise NotSimple(f"no group B-tree node at {address}")
        node_level, count = head[5], struct.unpack_from("<H", head, 6)[0]
        body = self.read(address + 24, 8 * (2 * count + 1))
        children = [struct.unpack_from("<Q", body, 8 + 16 * index)[0] for index in range(count)]
        for child in children:
            if node_level > 0:
                yield from self.links(child, names, level + 1)
            else:
                yield from self.symbols(child, names)

    def symbols(self, address: int, names: bytes) -> Iterator[tuple[str, int]]:
        self.once(address)
        head = self.read(address, 8)
        if head[:4] != b"SNOD" or head[4] != 1:
            raise NotSimple(f"no symbol node at {address}")
        count, = struct.unpack_from("<H", head, 6)
        entries = self.read(address + 8, 40 * count)
        for index in range(count):
            name_at, header, cache = struct.unpack_from("<QQI", entries, 40 * index)
            if cache == 2:
                raise NotSimple("a soft link")
            end = names.index(b"\0", name_at)
            yield names[name_at:end].decode("utf-8"), header

    def dataset(self, name: str, found: list[tuple[int, int, bytes]]) -> TreeDataset:
        shape: tuple[int, ...] | None = None
        dtype: tuple[str, int] | None = None
        layout: tuple[int, int] | None = None
        for kind, _, body in found:
            if kind == _DATASPACE:
                shape = _shape(body)
            elif kind == _DATATYPE:
                dtype = _dtype(body)
            elif kind == _LAYOUT:
                if body[0] != 3 or body[1] != 1:
                    raise NotSimple(f"{name}: not contiguous")
                layout = struct.unpack_from("<QQ", body, 2)
        if shape is None or dtype is None or layout is None:
            raise NotSimple(f"{name}: no shape, type or layout")
        nbytes = math.prod(shape) * dtype[1]
        address, stored = layout
        if nbytes and (address == UNDEFINED or stored != nbytes or address + nbytes > self.size):
            raise NotSimple(f"{name}: bytes not all stored in the file")
        return TreeDataset(name, shape, dtype[0], address if nbytes else 0, nbytes)

    def attribute(self, body: bytes) -> tuple[str, Callable[[], str]]:
        """An attribute's name, and a function decoding its value as a string (NotSimple if it is not one)."""
        version = body[0]
        if version not in (1, 2, 3) or (version > 1 and body[1] & 0x3):
            raise NotSimple("an attribute message of another version, or shared")
        name_size, type_size, space_size = struct.unpack_from("<HHH", body, 2)
        position = {1: 8, 2: 8, 3: 9}[version]
        pad = (lambda count: -(-count // 8) * 8) if version == 1 else (lambda count: count)
        name = body[position:position + name_size].rstrip(b"\0").decode("utf-8")
        position += pad(name_size)
        datatype = body[position:position + type_size]
        position += pad(type_size)
        space = body[position:position + space_size]
        data = body[position + pad(space_size):]
        return name, lambda: self.string(datatype, space, data)

    def string(self, datatype: bytes, space: bytes, data: bytes) -> str:
        if _shape(space) != ():
            raise NotSimple("an attribute that is not a scalar")
        kind, size = datatype[0] & 0x0F, struct.unpack_from("<I", datatype, 4)[0]
        if kind == 3:  # a fixed-length string, its padding as h5py reads it: libhdf5 ends a null-terminated one at
            # its first null and turns a space-padded one's trailing spaces to nulls; numpy drops trailing nulls
            value, padding = data[:size], datatype[1] & 0x0F
            if padding == 0:
                value = value.split(b"\0", 1)[0]
            return value.rstrip(b"\0 " if padding == 2 else b"\0").decode("utf-8")
        if kind == 9 and datatype[1] & 0x0F == 1:  # a variable-length string: on a global heap
            length, collection, index = struct.unpack_from("<IQI", data)
            return self.heap_object(collection, index)[:length].decode("utf-8")
        raise NotSimple("an attribute that is not a string")

    def heap_object(self, collection: int, index: int) -> bytes:
        if collection not in self.heaps:
            self.heaps[collection] = self.heap_collection(collection)
        found = self.heaps[collection].get(index)
        if found is None:
            raise NotSimple(f"no object {index} in the heap collection at {collection}")
        return found

    def heap_collection(self, address: int) -> dict[int, bytes]:
        """The objects of a global heap collection by index (every string attribute of a group lives in one)."""
        head = self.read(address, 16)
        if head[:4] != b"GCOL" or head[4] != 1:
            raise NotSimple(f"no global heap collection at {address}")
        data = self.read(address, struct.unpack_from("<Q", head, 8)[0])
        objects: dict[int, bytes] = {}
        position = 16
        while position + 16 <= len(data):  # every step is at least 16 bytes: the walk ends
            number, _, _, size = struct.unpack_from("<HHIQ", data, position)
            if number == 0:
                break  # free space: the rest of the collection
            if position + 16 + size > len(data):
                raise NotSimple("a heap object past its collection")
            objects[number] = data[position + 16:position + 16 + size]
            position += 16 + -(-size // 8) * 8
        return objects


def _shape(space: bytes) -> tuple[int, ...]:
    version, rank = space[0], space[1]
    if version == 1:
        start = 8
    elif version == 2:
        if space[3] == 2:
            raise NotSimple("a null dataspace")
        start = 4
    else:
        raise NotSimple(f"dataspace version {version}")
    return struct.unpack_from(f"<{rank}Q", space, start)


def _dtype(datatype: bytes) -> tuple[str, int]:
    """(numpy name, item size) of the number types weights have; NotSimple for any other."""
    kind, bits, size = datatype[0] & 0x0F, int.from_bytes(datatype[1:4], "little"), struct.unpack_from(
        "<I", datatype, 4)[0]
    if kind == 0 and not bits & 0x1 and size in (1, 2, 4, 8):  # little-endian integer
        offset, precision = struct.unpack_from("<HH", datatype, 8)
        if offset == 0 and precision == 8 * size:
            return f"{'int' if bits & 0x8 else 'uint'}{8 * size}", size
    if kind == 1 and not bits & 0x41 and (bits >> 4) & 0x3 == 2 and size in _IEEE:  # little-endian IEEE float
        offset, precision, exponent_at, exponent_bits, mantissa_at, mantissa_bits, bias = struct.unpack_from(
            "<HHBBBBI", datatype, 8)
        if (offset, mantissa_at) == (0, 0) and (precision, exponent_at, exponent_bits, mantissa_bits, bias,
                                                 bits >> 8) == _IEEE[size]:
            return f"float{8 * size}", size
    if kind == 5 and size == 2:  # Keras 3's bfloat16: an opaque 2-byte type, as hdf5_checks reads it
        return "bfloat16", 2
    raise NotSimple(f"datatype class {kind}, size {size}")
