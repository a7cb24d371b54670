"""`.keras` weights written by tf.keras 2.x on Windows: group paths joined with backslashes.

tf.keras 2.13 to 2.15 built each layer's path inside the weights file with `os.path.join`,
so on Windows a layer's group is one root-level link named `layers\\dense` (holding
`vars/0`...), and a layer inside another `layers\\lstm\\cell`, where every other writer has
`layers/dense` and `layers/lstm/cell`. No Keras on another system loads these files (it
finds no `layers` group). Such a root is read as the tree those names spell.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import ReadError
from .hdf5_tree import TreeDataset, TreeGroup


def joined_with_backslashes(root: Any, layer_groups: tuple[str, ...]) -> bool:
    """No layers group at the root, and a root name that starts one with a backslash (`layers\\dense`)."""
    try:
        if any(name in root for name in layer_groups):
            return False
        return any(str(name).split("\\", 1)[0] in layer_groups and "\\" in str(name) for name in root)
    except (KeyError, OSError, TypeError, ValueError):
        return False


def windows_tree(root: Any, where: str, layer_groups: tuple[str, ...]) -> Any:
    """`root` unchanged, or, for a file written on Windows, the tree its backslash-joined names spell."""
    if not joined_with_backslashes(root, layer_groups):
        return root
    if not isinstance(root, TreeGroup):  # the h5py path: a file Keras did not write in the simple shape
        raise ReadError(f"{where}: group names joined with backslashes (`layers\\...`, tf.keras on Windows) in "
                        "an HDF5 file weightport reads only through h5py; save the model again as .h5")
    split = TreeGroup("/", attributes=dict(root.attributes), attribute_names=set(root.attribute_names))
    for name, member in root.members.items():
        *parents, last = name.split("\\")
        group = split
        for part in parents:
            group = _child_group(group, part, where)
        if last not in group.members:
            group.members[last] = _renamed(member, _path(group, last))
        elif isinstance(member, TreeGroup) and isinstance(group.members[last], TreeGroup):
            _merge(group.members[last], member, where)  # type: ignore[arg-type]
        else:
            raise ReadError(f"{where}: the file names two objects {name!r}; it is damaged or crafted")
    _sort(split)
    return split


def _path(group: TreeGroup, name: str) -> str:
    return f"{group.name.rstrip('/')}/{name}"


def _child_group(group: TreeGroup, name: str, where: str) -> TreeGroup:
    child = group.members.get(name)
    if child is None:
        child = group.members[name] = TreeGroup(_path(group, name))
    if not isinstance(child, TreeGroup):
        raise ReadError(f"{where}: {_path(group, name)} is a dataset and a group; the file is damaged or crafted")
    return child


def _merge(into: TreeGroup, group: TreeGroup, where: str) -> None:
    """The members and attributes of `group` (a link `layers\\lstm`) added to `into` (already made for
    `layers\\lstm\\cell`), which must not name any of them already."""
    for name, member in group.members.items():
        if name in into.members:
            raise ReadError(f"{where}: the file names two objects {_path(into, name)!r}; it is damaged or crafted")
        into.members[name] = _renamed(member, _path(into, name))
    into.attributes.update(group.attributes)
    into.attribute_names |= group.attribute_names


def _renamed(node: TreeGroup | TreeDataset, name: str) -> TreeGroup | TreeDataset:
    if isinstance(node, TreeDataset):
        return replace(node, name=name)
    members = {key: _renamed(member, f"{name}/{key}") for key, member in node.members.items()}
    return TreeGroup(name, members, dict(node.attributes), set(node.attribute_names))


def _sort(group: TreeGroup) -> None:
    """Members in h5py's order (by name), as every other tree lists them."""
    group.members = dict(sorted(group.members.items(), key=lambda item: item[0].encode("utf-8")))
    for member in group.members.values():
        if isinstance(member, TreeGroup):
            _sort(member)
