"""Lazy tensors over HDF5 datasets, shared by the Keras 3 and legacy HDF5 readers."""
from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ReadError
from ..graph import BFLOAT16, FileRegion, Tensor
from .hdf5_tree import Store, TreeDataset, TreeGroup

if TYPE_CHECKING:  # h5py is imported where a file is read through it: hdf5_tree reads Keras's own without it
    import h5py
    import numpy as np
else:
    from ..lazy_numpy import np  # numpy on first use: reading a file's structure needs none


def tensor_from_dataset(dataset: h5py.Dataset | TreeDataset, role: str, where: str, store: Store) -> Tensor:
    """A Tensor that reads `dataset` when loaded; `where` is the file and path for messages.

    The dataset is checked first (hdf5_checks: nothing outside the file, nothing declared
    and not stored). A contiguous, unfiltered dataset is memory-mapped in place from the
    store's file (no copy, nothing read until used, pages released when the array is
    dropped) instead of read through h5py. A TreeDataset (hdf5_tree) is contiguous, checked
    and in the file already.
    """
    if isinstance(dataset, TreeDataset):
        return _mapped(dataset, role, where, store)
    from .hdf5_checks import check_dataset, weight_dtype

    dtype = weight_dtype(dataset, where)
    check_dataset(dataset, where, store)
    shape = tuple(dataset.shape)
    start = _contiguous_offset(dataset) if store.path is not None else None

    def load() -> np.ndarray:
        store.used()
        if start is not None and store.path is not None:
            stored = np.dtype(np.uint16) if dtype == BFLOAT16 else dataset.dtype
            return _map(store.path, stored, store.start + start, shape, where)
        try:
            array = dataset[()]
        except (OSError, ValueError, KeyError, RuntimeError) as error:
            raise ReadError(f"{where}: cannot read the tensor ({error}); the file may be truncated") from None
        array = np.asarray(array)
        return array.view(np.uint16) if dtype == BFLOAT16 else array

    return _tensor(role, shape, dtype, where, load, store, start if dataset.dtype.byteorder != ">" else None)


def _mapped(dataset: TreeDataset, role: str, where: str, store: Store) -> Tensor:
    path = store.path
    assert path is not None  # a tree is read from a file

    def load() -> np.ndarray:
        store.used()
        stored = np.dtype(np.uint16 if dataset.dtype == BFLOAT16 else dataset.dtype)
        if not dataset.nbytes:
            return np.empty(dataset.shape, stored)  # nothing stored (np.memmap maps no empty range)
        return _map(path, stored, store.start + dataset.offset, dataset.shape, where)

    return _tensor(role, dataset.shape, dataset.dtype, where, load, store, dataset.offset if dataset.nbytes else None)


def _map(path: str, stored: np.dtype, offset: int, shape: tuple[int, ...], where: str) -> np.ndarray:
    """A tensor's bytes memory-mapped in place (no copy; pages released when the array is dropped)."""
    try:
        return np.memmap(path, dtype=stored, mode="r", offset=offset, shape=shape)
    except (OSError, ValueError) as error:
        raise ReadError(f"{where}: cannot map the tensor ({error}); the file may be truncated") from None


def _tensor(role: str, shape: tuple[int, ...], dtype: str, where: str, load: Callable[[], np.ndarray], store: Store,
            start: int | None) -> Tensor:
    """A lazy Tensor; with its FileRegion (writers copy unchanged bytes file to file) when its bytes lie, as
    they are, at `start` of the store's file."""
    if start is None or store.path is None or sys.byteorder != "little":
        return Tensor(role=role, shape=shape, dtype=dtype, source=where, loader=load)
    return Tensor(role=role, shape=shape, dtype=dtype, source=where,
                  loader=FileRegion(store.path, store.start + start, load, store.used))


def _contiguous_offset(dataset: h5py.Dataset) -> int | None:
    """Where a contiguous, unfiltered, non-empty dataset's bytes start in its file, else None."""
    if dataset.chunks is not None or dataset.size == 0 or dataset.dtype.byteorder == ">":
        return None
    try:
        offset = dataset.id.get_offset()
    except (OSError, ValueError):
        return None
    return int(offset) if offset is not None else None


def text_name(name: str | bytes) -> str:
    """An HDF5 link name as text: h5py hands over bytes when a name is not UTF-8."""
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else name


def numeric_key(name: str | bytes) -> tuple[tuple[int, int, str], ...]:
    """Sort key that orders `vars/2` before `vars/10` (h5py lists 10 first); any two names compare."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", text_name(name)))


MAX_ATTRIBUTE_ELEMENTS = 1 << 24  # layer_names of the largest models hold a few thousand


def attribute(obj: Any, name: str, where: str) -> Any:
    """An attribute's value (None when absent), read only once its declared size is checked.

    A crafted file can declare an attribute of 2**40 elements stored in a few bytes; h5py
    would allocate all of it before reading. `obj` may be a MergedGroup of shards.
    """
    if isinstance(obj, TreeGroup):  # read by hdf5_tree, its strings decoded there
        return obj.attributes.get(name)
    import h5py

    if hasattr(obj, "groups"):  # sharded: the first shard that has it
        return next((attribute(group, name, where) for group in obj.groups if name in group.attrs), None)
    key = name.encode()
    if not h5py.h5a.exists(obj.id, key):
        return None
    handle = h5py.h5a.open(obj.id, key)
    shape = handle.shape
    if shape is None:
        return None  # a null dataspace: no value
    count = 1
    for size in shape:
        count *= size
    declared = count * handle.get_type().get_size()
    try:
        stored = handle.get_storage_size() if declared else 0
    except RuntimeError:  # HDF5 reports 0 bytes as an error
        stored = 0
    if count > MAX_ATTRIBUTE_ELEMENTS or declared > stored:
        raise ReadError(f"{where}: attribute {name!r} declares {count} elements ({declared} bytes) but the file "
                        f"stores {stored} bytes for it; the file is damaged or crafted")
    value = obj.attrs[name]  # its heap, if any, was walked at open (hdf5_headers)
    return None if isinstance(value, h5py.Empty) else value


def attr_text(value: Any) -> str:
    """An HDF5 attribute as str: old files (h5py 2) store bytes, new ones str."""
    if isinstance(value, bytes):  # numpy.bytes_ too (a subclass)
        return value.decode("utf-8", "replace")
    return str(value)


def attr_list(value: Any) -> list[str]:
    """A list-of-strings attribute (layer_names, weight_names) as a list of str."""
    if value is None:
        return []
    return [attr_text(item) for item in np.ravel(value).tolist()] if np.size(value) else []


#: Keras splits a list attribute past HDF5's 64 KB object header limit into `name0`, `name1`, ...
#: (save_attributes_to_hdf5_group): the weight_names of a large nested backbone, or of a big Hugging Face model
MAX_ATTRIBUTE_CHUNKS = 4096


def list_attribute(obj: Any, name: str, where: str) -> list[str] | None:
    """A list-of-strings attribute (layer_names, weight_names), whole or in the chunks Keras split it into, as
    Keras's load_attributes_from_hdf5_group reads it; None when absent."""
    value = attribute(obj, name, where)
    if value is not None:
        return attr_list(value)
    parts: list[str] = []
    for index in range(MAX_ATTRIBUTE_CHUNKS):
        chunk = attribute(obj, f"{name}{index}", where)
        if chunk is None:
            return parts if index else None
        parts += attr_list(chunk)
    raise ReadError(f"{where}: attribute {name} split into more than {MAX_ATTRIBUTE_CHUNKS} chunks; the file is "
                    "damaged or crafted")


def is_legacy(h5: Any) -> bool:
    """A legacy HDF5 file (Keras 2, tf.keras, Keras 3's legacy writer), read by hdf5_tree or h5py: its root
    holds model_config or layer_names (maybe split into layer_names0, ...), or a model_weights group."""
    names = h5.attribute_names if isinstance(h5, TreeGroup) else h5.attrs
    return "model_config" in names or "model_weights" in h5 or "layer_names" in names or "layer_names0" in names


def is_group(item: Any) -> bool:
    """A group read by hdf5_tree or by h5py (then imported already), or sharded weights' MergedGroup."""
    if isinstance(item, (TreeGroup, TreeDataset)):
        return isinstance(item, TreeGroup)
    import h5py

    from .sharded import MergedGroup

    return isinstance(item, (h5py.Group, MergedGroup))


def is_dataset(item: Any) -> bool:
    if isinstance(item, (TreeGroup, TreeDataset)):
        return isinstance(item, TreeDataset)
    import h5py

    return isinstance(item, h5py.Dataset)
