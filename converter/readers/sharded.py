"""Keras 3 sharded weights: `model.weights.json` (an index) and the `.weights.h5` shards it names.

`save_weights(..., max_shard_size=...)` writes the same tree as one `.weights.h5`, spread
over shard files; the index's `weight_map` lists, per `/layers/<name>/vars` group, the
shards holding it. The shards are read as one tree through MergedGroup.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Iterator

import h5py

from ..errors import ReadError


def is_keras_shard_index(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            if handle.read(1) != b"{":
                return False
        with open(path, encoding="utf-8") as handle:
            index = json.load(handle)
    except (OSError, ValueError):
        return False
    return isinstance(index, dict) and isinstance(index.get("weight_map"), dict)


def shard_files(path: str) -> list[str]:
    """The shard files an index names, in order, each checked to exist."""
    with open(path, encoding="utf-8") as handle:
        index = json.load(handle)
    folder = os.path.dirname(os.path.abspath(path))
    names: list[str] = []
    for value in index["weight_map"].values():
        for name in value if isinstance(value, list) else [value]:
            if name not in names:
                names.append(name)
    files = [os.path.join(folder, name) for name in names]
    missing = [name for name, file in zip(names, files) if not os.path.isfile(file)]
    if missing:
        raise ReadError(f"{path}: the index names shard(s) {', '.join(missing)} that are not beside it")
    return files


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

    @property
    def attrs(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for group in self.groups:
            merged.update({key: value for key, value in group.attrs.items() if key not in merged})
        return merged

    def visititems(self, function: Callable[[str, Any], Any]) -> None:
        seen: set[str] = set()

        def once(name: str, item: Any) -> None:
            if name not in seen:
                seen.add(name)
                function(name, item)

        for group in self.groups:
            group.visititems(once)
