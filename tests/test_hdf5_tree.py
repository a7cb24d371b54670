"""hdf5_tree, the one-pass reader of the HDF5 files Keras writes, against h5py on the same files.

Random files of groups, datasets and attributes written by h5py: those of the simple shape
(h5py's defaults, as Keras writes) must be read here, and read exactly as h5py reads them;
any other (chunked, compressed, new-style groups, soft links, other types) either the same
or refused with NotSimple, never read differently. Damaged files: NotSimple or a tree, no
other error. Keras's own files: the reader takes this path and gets what the h5py path gets.
"""
from __future__ import annotations

import glob
import os
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converter.readers import keras3, read_source
from converter.readers.hdf5_tree import NotSimple, TreeDataset, TreeGroup, read_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAIN_DTYPES = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                "uint64"]
OTHER_DTYPES = ["bool", ">f4", ">i8", "complex64"]
TEXT = st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")  # what an HDF5 string holds
NAMES = ["vars", "layers", "0", "1", "10", "2", "dense", "dense_1", "conv2d", "kernel", "é_unicode", "a b"]


def h5py_view(path: str) -> dict[str, Any]:
    """Every object of the file as h5py reads it: groups with their `name` attribute, datasets with bytes."""
    view: dict[str, Any] = {}
    with h5py.File(path, "r") as h5:
        def visit(name: str, item: Any) -> None:
            if isinstance(item, h5py.Dataset):
                view["/" + name] = ("dataset", item.shape, item.dtype.name, item[()].tobytes())
            else:
                name_attribute = item.attrs.get("name")
                if isinstance(name_attribute, bytes):
                    name_attribute = name_attribute.decode()
                view["/" + name] = ("group", name_attribute)
        h5.visititems(visit)
        view["order"] = list(h5.keys())
    return view


def tree_view(tree: TreeGroup, path: str, start: int = 0) -> dict[str, Any]:
    view: dict[str, Any] = {}
    with open(path, "rb") as handle:
        data = handle.read()

    def visit(name: str, item: Any) -> None:
        if isinstance(item, TreeDataset):
            stored = data[start + item.offset:start + item.offset + item.nbytes]
            view["/" + name] = ("dataset", item.shape, item.dtype, stored)
        else:
            view["/" + name] = ("group", item.attributes.get("name"))
    tree.visititems(visit)
    view["order"] = list(tree)
    return view


@st.composite
def specs(draw: Any, depth: int = 0) -> dict[str, Any]:
    """A group: members (groups or datasets) and attributes; options that leave the simple shape."""
    members: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=5, unique=True)):
        if depth < 3 and draw(st.booleans()):
            members[name] = draw(specs(depth + 1))
        else:
            other = draw(st.integers(0, 9)) == 0
            members[name] = {
                "dtype": draw(st.sampled_from(OTHER_DTYPES if other else PLAIN_DTYPES)),
                "shape": tuple(draw(st.lists(st.integers(0, 4), max_size=3))),
                "chunked": draw(st.integers(0, 9)) == 0,
                "compressed": draw(st.integers(0, 14)) == 0,
            }
    return {
        "members": members,
        "name": draw(st.one_of(st.none(), st.text(TEXT, max_size=12))),
        "fixed_name": draw(st.integers(0, 5)) == 0,  # a fixed-length string, not h5py's variable-length one
        "number": draw(st.booleans()),  # another attribute, not a string
        "ordered": draw(st.integers(0, 9)) == 0,  # track_order: a new-style group
        "soft": draw(st.integers(0, 14)) == 0,
    }


def write(path: str, spec: dict[str, Any], libver: str, seed: int) -> bool:
    """Write `spec` with h5py; whether the file has the simple shape (then hdf5_tree must read it)."""
    rng = np.random.default_rng(seed)
    simple = libver == "earliest"

    def fill(group: h5py.Group, spec: dict[str, Any]) -> None:
        nonlocal simple
        if spec["name"] is not None:
            fixed = spec["fixed_name"] and spec["name"]
            group.attrs["name"] = np.bytes_(spec["name"].encode()) if fixed else spec["name"]
        if spec["number"]:
            group.attrs["count"] = np.arange(3)
        for name, member in spec["members"].items():
            simple = simple and name.isascii()  # libhdf5 keeps a UTF-8 link name in a new-style group
            if "members" in member:
                simple = simple and not member["ordered"]
                fill(group.create_group(name, track_order=member["ordered"] or None), member)
                continue
            dtype = np.dtype(member["dtype"])
            values = (rng.normal(size=member["shape"]) * 100).astype(dtype)
            chunked = (member["chunked"] or member["compressed"]) and values.ndim > 0 and values.size > 0
            options: dict[str, Any] = {"chunks": True} if chunked else {}
            if chunked and member["compressed"]:
                options["compression"] = "gzip"
            group.create_dataset(name, data=values, **options)
            simple = simple and not chunked and member["dtype"] in PLAIN_DTYPES
        if spec["soft"] and spec["members"]:
            group["soft_link"] = h5py.SoftLink(group.name)
            simple = False

    with h5py.File(path, "w", libver=(libver, "latest")) as h5:
        fill(h5, spec)
    return simple


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=specs(), libver=st.sampled_from(["earliest", "earliest", "earliest", "latest"]), seed=st.integers(0, 99))
def test_random_files_read_as_h5py_reads_them(tmp_path: Any, spec: dict[str, Any], libver: str, seed: int) -> None:
    path = str(tmp_path / "random.h5")
    simple = write(path, spec, libver, seed)
    try:
        tree = read_tree(path, 0, os.path.getsize(path))
    except NotSimple:
        assert not simple, "a file of the simple shape Keras writes was left to h5py"
        return
    assert tree_view(tree, path) == h5py_view(path)


def test_groups_of_thousands_of_members(tmp_path: Any) -> None:
    """A group's B-tree grows levels past 1,024 members (a model of that many layers)."""
    path = str(tmp_path / "wide.h5")
    with h5py.File(path, "w") as h5:
        layers = h5.create_group("layers")
        for index in range(2500):
            group = layers.create_group(f"dense_{index}")
            group.attrs["name"] = f"layer {index}"
            group.create_dataset("vars/0", data=np.full((2,), index, dtype="float32"))
    tree = read_tree(path, 0, os.path.getsize(path))
    assert tree_view(tree, path) == h5py_view(path)


def test_a_file_inside_another_is_read_at_its_offset(tmp_path: Any) -> None:
    """As in a .keras archive: the HDF5 bytes start somewhere in a larger file."""
    inner = str(tmp_path / "inner.h5")
    with h5py.File(inner, "w") as h5:
        h5.create_dataset("layers/dense/vars/0", data=np.arange(6, dtype="float32").reshape(2, 3))
    outer = str(tmp_path / "outer.bin")
    with open(outer, "wb") as handle:
        handle.write(b"x" * 1234 + open(inner, "rb").read() + b"y" * 99)
    tree = read_tree(outer, 1234, os.path.getsize(inner))
    assert tree_view(tree, outer, 1234) == h5py_view(inner)
    with pytest.raises(NotSimple):  # cut short: not all there
        read_tree(outer, 1234, os.path.getsize(inner) - 100)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(1, 255)), min_size=1, max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 1 << 20)))
def test_damaged_files_give_a_tree_or_not_simple(tmp_path: Any, flips: list[tuple[int, int]],
                                                 cut: int | None) -> None:
    """Flipped bytes anywhere (headers, B-trees, heaps) and truncation: NotSimple or a tree whose
    datasets lie inside the bytes; never another error, never a hang."""
    path = str(tmp_path / "damaged.h5")
    if not os.path.exists(path + ".clean"):
        with h5py.File(path + ".clean", "w") as h5:
            for index in range(40):
                group = h5.create_group(f"layers/dense_{index}/vars")
                group.attrs["name"] = f"dense_{index}"
                group.create_dataset("0", data=np.ones((3, 2), "float32"))
    data = bytearray(open(path + ".clean", "rb").read())
    for position, value in flips:
        data[position % len(data)] ^= value
    if cut is not None:
        data = data[:cut % len(data) + 1]
    with open(path, "wb") as handle:
        handle.write(data)
    try:
        tree = read_tree(path, 0, len(data))
    except NotSimple:
        return
    datasets: list[TreeDataset] = []
    tree.visititems(lambda name, item: datasets.append(item) if isinstance(item, TreeDataset) else None)
    assert all(0 <= item.offset and item.offset + item.nbytes <= len(data) for item in datasets)


KERAS_FILES = sorted(glob.glob(os.path.join(ROOT, "fixtures", "*", "*.keras"))
                     + glob.glob(os.path.join(ROOT, "fixtures", "*", "*.weights.h5")))


def graph_snapshot(path: str) -> list[Any]:
    with read_source(path) as graph:
        return [(layer.path, layer.class_name, [(t.role, t.shape, t.dtype, t.source, np.asarray(t.load()).tobytes())
                                                for t in layer.tensors]) for layer in graph.walk()]


@pytest.mark.parametrize("path", KERAS_FILES, ids=lambda path: os.path.relpath(path, ROOT))
def test_keras_files_take_the_one_pass_path_and_read_as_through_h5py(path: str, monkeypatch: Any) -> None:
    taken: list[bool] = []
    simple_tree = keras3.simple_tree

    def watched(*arguments: Any) -> Any:
        tree = simple_tree(*arguments)
        taken.append(tree is not None)
        return tree

    monkeypatch.setattr(keras3, "simple_tree", watched)
    fast = graph_snapshot(path)
    assert taken == [True]
    monkeypatch.setattr(keras3, "simple_tree", lambda *arguments: None)
    assert graph_snapshot(path) == fast


def test_a_name_given_twice_is_left_to_h5py(tmp_path: Any) -> None:
    """A crafted group naming two objects alike: which is meant cannot be told, so no tree."""
    path = str(tmp_path / "twice.h5")
    with h5py.File(path, "w") as h5:
        h5.create_dataset("layers/dense_aa/vars/0", data=np.zeros(2, "float32"))
        h5.create_dataset("layers/dense_ab/vars/0", data=np.ones(2, "float32"))
    read_tree(path, 0, os.path.getsize(path))  # the clean file is simple
    data = open(path, "rb").read()
    assert data.count(b"dense_ab\0") == 1
    with open(path, "wb") as handle:
        handle.write(data.replace(b"dense_ab\0", b"dense_aa\0"))
    with pytest.raises(NotSimple):
        read_tree(path, 0, os.path.getsize(path))


def test_fixed_length_strings_keep_what_h5py_keeps(tmp_path: Any) -> None:
    """A fixed-length name's trailing spaces are part of it unless the string is space-padded, and a
    null-terminated one ends at its first null, as h5py reads them (found by the random files above: a name " "
    read as "")."""
    path = str(tmp_path / "names.h5")
    with h5py.File(path, "w", libver="earliest") as h5:
        for index, name in enumerate(["dense ", " ", "a b ", "x\0y", "plain"]):
            h5.create_group(f"g{index}").attrs["name"] = np.bytes_(name.encode())
        for index, (padding, stored) in enumerate([(h5py.h5t.STR_SPACEPAD, b"sp    "), (h5py.h5t.STR_NULLTERM,
                                                                                       b"nt\0xy\0")]):
            string = h5py.h5t.C_S1.copy()
            string.set_size(6)
            string.set_strpad(padding)
            attribute = h5py.h5a.create(h5.create_group(f"p{index}").id, b"name", string,
                                        h5py.h5s.create(h5py.h5s.SCALAR))
            attribute.write(np.array(stored, dtype="S6"))
    tree = read_tree(path, 0, os.path.getsize(path))
    assert tree_view(tree, path) == h5py_view(path)
    assert tree["g0"].attributes["name"] == "dense " and tree["p1"].attributes["name"] == "nt"
