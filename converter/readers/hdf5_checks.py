"""What an HDF5 file may hold before weightport reads a byte of it: the refusals.

HDF5 can point outside the file (external links, external storage, virtual datasets), can
declare data it does not store (unallocated datasets and chunks read back as fill values,
so an 11 KB file may declare a 1 GB tensor), and can need filters this machine lacks. Keras
writes none of these, so each is refused with the dataset's path, before anything is read.
"""
from __future__ import annotations

import math
import os
import weakref
from typing import IO, Any

import h5py

from ..errors import ReadError
from .hdf5_headers import check_objects, register
from .hdf5_tree import Store
from .limits import compression_ok

#: numpy dtypes a weight may have (and every writer can store)
WEIGHT_DTYPES = frozenset({
    "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "bool",
})
_LINK_KINDS = {h5py.h5l.TYPE_SOFT: "a soft link", h5py.h5l.TYPE_EXTERNAL: "an external link"}


def open_hdf5(source: str | IO[bytes], where: str, region: tuple[str | IO[bytes], int, int] | None = None) -> h5py.File:
    """h5py's File over `source` (a path or a file object), its links checked, its raw bytes registered.

    `region` says where the bytes h5py sees lie: (a path or file object, first byte, length);
    by default the file at `source`. hdf5_heaps reads them to check variable-length attributes.
    """
    try:
        h5 = h5py.File(source, "r")
    except OSError as error:
        raise ReadError(f"{where}: damaged or truncated HDF5 file ({error})") from None
    try:
        holder, start, length = region if region is not None else (source, 0, os.path.getsize(source))  # type: ignore
        base = userblock(h5)
        # its own handle on a path (closed with the last reference to it); h5py's own file object otherwise
        handle = open(holder, "rb") if isinstance(holder, str) else holder
        if handle is not holder:
            weakref.finalize(h5, handle.close)

        def read(address: int, count: int) -> bytes:
            handle.seek(start + base + address)
            return handle.read(count)

        register(h5, read, length - base)
        check_links(h5, where)
    except BaseException:
        h5.close()
        raise
    return h5


def check_links(h5: Any, where: str) -> None:
    """Refuse any link that is not a plain (hard) link inside the file, then read every object's header.

    The link walk decodes group headers only; every object it reaches is checked by
    hdf5_headers before libhdf5 decodes its header (h5py's visititems would).
    """
    found: list[tuple[str, int]] = []
    addresses = {h5py.h5o.get_info(h5.id).addr}

    def visit(name: bytes, info: Any) -> bool | None:
        if info.type != h5py.h5l.TYPE_HARD:
            found.append((name.decode("utf-8", "replace"), info.type))
            return True  # one is enough to refuse
        addresses.add(info.u)
        return None

    h5.id.links.visit(visit, info=True)
    if found:
        name, kind = found[0]
        raise ReadError(f"{where}: /{name} is {_LINK_KINDS.get(kind, 'a user-defined link')}; Keras writes none, "
                        "and weightport reads nothing outside the given file")
    check_objects(h5, addresses, where)


def weight_dtype(dataset: h5py.Dataset, where: str) -> str:
    """The dtype name of a weight dataset: a number type, bool, or bfloat16 (Keras's 2-byte opaque type)."""
    type_class = dataset.id.get_type().get_class()
    dtype = dataset.dtype
    if type_class == h5py.h5t.OPAQUE and dtype.itemsize == 2:
        return "bfloat16"  # Keras 3 marks it dtype='bfloat16'; its legacy .h5 writer does not
    if type_class in (h5py.h5t.INTEGER, h5py.h5t.FLOAT) or (type_class == h5py.h5t.ENUM and dtype.kind == "b"):
        if dtype.name in WEIGHT_DTYPES:
            return dtype.name
    raise ReadError(f"{where}: unsupported dtype {dtype} (HDF5 type class {type_class}); weights are float16, "
                    "bfloat16, float32, float64, integers or bool")


def check_dataset(dataset: h5py.Dataset, where: str, store: Store) -> None:
    """Refuse a dataset whose bytes are not all stored inside `store`, or that needs what is missing."""
    if dataset.shape is None:
        raise ReadError(f"{where}: the dataset has a null dataspace (no shape); not a weight")
    if dataset.is_virtual:
        raise ReadError(f"{where}: a virtual dataset (its data lives in other files); weightport reads nothing "
                        "outside the given file")
    if dataset.external:
        raise ReadError(f"{where}: the dataset's bytes are stored in an external file; weightport reads nothing "
                        "outside the given file")
    plist = dataset.id.get_create_plist()
    for index in range(plist.get_nfilters()):
        code, _, _, name = plist.get_filter(index)
        if not h5py.h5z.filter_avail(code):
            label = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
            raise ReadError(f"{where}: compressed with HDF5 filter {code} ({label}), which this machine does not "
                            "have; it would read as fill values")
    declared = math.prod(dataset.shape) * dataset.dtype.itemsize
    if declared == 0:
        return
    layout = plist.get_layout()
    if layout == h5py.h5d.CONTIGUOUS:
        offset = dataset.id.get_offset()
        if offset is None:
            raise ReadError(f"{where}: declares {declared} bytes but stores none (they would read as fill values)")
        if offset + declared > store.size:
            raise ReadError(f"{where}: declares {declared} bytes at offset {offset}, past the end of the "
                            f"{store.size}-byte file; the file is truncated or crafted")
    elif layout == h5py.h5d.CHUNKED:
        _check_chunks(dataset, where, store, declared)


def _check_chunks(dataset: h5py.Dataset, where: str, store: Store, declared: int) -> None:
    chunks = dataset.chunks or ()
    expected = math.prod(-(-size // chunk) for size, chunk in zip(dataset.shape, chunks))
    count = dataset.id.get_num_chunks()
    if count < expected:
        raise ReadError(f"{where}: stores {count} of its {expected} chunks; the rest would read as fill values")
    stored = 0
    for index in range(count):
        info = dataset.id.get_chunk_info(index)
        if info.byte_offset is None or info.byte_offset + info.size > store.size:
            raise ReadError(f"{where}: chunk {index} lies past the end of the {store.size}-byte file")
        stored += info.size
    if not compression_ok(declared, stored):
        raise ReadError(f"{where}: {stored} stored bytes decompress to {declared}, beyond the compression ratio "
                        "weightport accepts; the file is crafted")


def userblock(h5: h5py.File) -> int:
    """Bytes before the HDF5 superblock: dataset offsets count from there."""
    try:
        return int(h5.id.get_create_plist().get_userblock())
    except (AttributeError, ValueError):
        return 0


def file_store(h5: h5py.File, path: str) -> Store:
    """Where the datasets of the HDF5 file at `path` (open as `h5`) lie: from its superblock to the file's end."""
    skip = userblock(h5)
    return Store(path, skip, os.path.getsize(path) - skip)


def raised_by_h5py(error: BaseException) -> bool:
    """Whether `error` came out of h5py or the HDF5 library (a damaged file), not out of weightport."""
    trace = error.__traceback__
    last = None
    while trace is not None:
        last, trace = trace, trace.tb_next
    return last is not None and str(last.tb_frame.f_globals.get("__name__", "")).startswith("h5py")
