"""Keras 3 sharded weights: `model.weights.json` (an index) and the `.weights.h5` shards it names.

`save_weights(..., max_shard_size=...)` writes the same tree as one `.weights.h5`, spread
over shard files; the index's `weight_map` lists, per `/layers/<name>/vars` group, the
shards holding it. The shards are read as one tree through MergedGroup.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterator

import h5py

from ..errors import ReadError
from .limits import read_json_file


def is_keras_shard_index(path: str) -> bool:
    """Whether `path` is JSON text (it starts with `{`): then it must be a shard index."""
    try:
        with open(path, "rb") as handle:
            return handle.read(1) == b"{"
    except OSError:
        return False


def read_weight_map(path: str, what: str = "a Keras sharded-weights index") -> dict[str, Any]:
    """The index's weight_map object (what each name is kept in)."""
    return weight_map_of(read_json_file(path), path, what)


def weight_map_of(index: Any, path: str, what: str = "a Keras sharded-weights index") -> dict[str, Any]:
    """The weight_map object of an index read already (`path` names it in messages)."""
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict):
        raise ReadError(f"{path}: JSON without a weight_map object; not {what}")
    return weight_map


def shard_files(path: str, weight_map: dict[str, Any] | None = None) -> list[str]:
    """The shard files an index names, in order: bare file names of regular files beside it."""
    weight_map = read_weight_map(path) if weight_map is None else weight_map
    folder = os.path.dirname(path)  # the shards named as the index is (messages, records)
    names: list[str] = []
    for value in weight_map.values():
        for name in value if isinstance(value, list) else [value]:
            if name not in names:
                names.append(bare_file_name(name, path))
    files = [os.path.join(folder, name) for name in names]
    missing = [name for name, file in zip(names, files) if not os.path.isfile(file)]
    if missing:
        raise ReadError(f"{path}: the index names shard(s) {', '.join(missing)} that are not beside it")
    real_folder = os.path.realpath(folder or ".")
    outside = [name for name, file in zip(names, files) if os.path.dirname(os.path.realpath(file)) != real_folder]
    if outside:
        raise ReadError(f"{path}: shard {outside[0]} is a link to a file outside the index's folder; weightport "
                        "reads shards beside the index only")
    return files


def bare_file_name(name: Any, path: str) -> str:
    """A shard name as the index must give it: a file name, no folder, nothing above."""
    if not isinstance(name, str) or not name or name in (".", "..") or "\0" in name \
            or os.path.basename(name) != name or "/" in name or "\\" in name:
        raise ReadError(f"{path}: the index names shard {name!r}; shards must be bare file names beside the index")
    return name


class MergedGroup:
    """Several HDF5 groups at the same path in different shard files, read as one."""

    def __init__(self, groups: list[Any], name: str) -> None:
        self.groups = groups
        self.name = name

    def __contains__(self, key: str) -> bool:
        return any(key in group for group in self.groups)

    def __getitem__(self, key: str) -> Any:
        found = [group[key] for group in self.groups if key in group]
        if not found:
            raise KeyError(key)
        if isinstance(found[0], h5py.Dataset):
            return found[0]
        return MergedGroup(found, found[0].name)

    def __iter__(self) -> Iterator[str]:
        seen: list[str] = []
        for group in self.groups:
            seen += [name for name in group if name not in seen]
        return iter(seen)

    def visititems(self, function: Callable[[str, Any], Any]) -> None:
        seen: set[str] = set()

        def once(name: str, item: Any) -> None:
            if name not in seen:
                seen.add(name)
                function(name, item)

        for group in self.groups:
            group.visititems(once)
