"""Crafted hostile and broken model files: one case per class of attack or damage.

    .venv/bin/python fuzz/hostile.py OUT_DIR     write every case into OUT_DIR and list them

Each case writes its file(s) into an empty folder that also holds `secret.txt` and
`secret.h5` (bytes no output may contain) and names `MARKER` (a file no command may
create: code payloads try to). `refused` says which commands must stop with one line and
exit code 2, and words that line must contain; the other commands may succeed. The tests
(tests/test_hostile_files.py) run every case through every command; fuzz/fuzz_readers.py
starts from these files. The files that try to run code or reach outside themselves are made
in fuzz/hostile_reach.py; the damaged, oversized and malformed ones here.
"""
from __future__ import annotations

import json
import os
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from craft import (  # noqa: E402
    dense_model, dense_weights, functional, input_layer, layer, legacy_dense_config, legacy_dense_layers, tensor,
    write_archive, write_legacy, write_weights_h5,
)
from craft_bundle import tensor_entry, write_bundle  # noqa: E402
from hostile_reach import (  # noqa: E402
    config_payload, einsum_payload, external_link, external_storage, h5_version_payload, hub_shard_index,
    keras3_lambda, lambda_legacy, module_import, name_payload, npz_weights, path_payload, reserved_names, shard_index,
    soft_link, tf_op_write_file, version_payload, virtual_dataset,
)
from hostile_reach import MARKER_VARIABLE, SECRET, marker  # noqa: E402, F401 (the tests read them here)
COMMANDS = ("inspect", "convert", "export", "verify")
ALL = "*"


@dataclass
class Case:
    name: str
    kind: str  # code, foreign, size, integrity, malformed
    make: Callable[[Path], Path]  # folder -> the file to give weightport
    refused: dict[str, str] = field(default_factory=dict)  # command (or "*") -> words of its one-line error
    options: tuple[str, ...] = ()  # more CLI arguments, "{folder}" replaced


def _checkpoint(folder: Path, **changes: object) -> Path:
    """A TensorFlow checkpoint of one tensor whose index entry says `changes`."""
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_bundle(str(folder / "ckpt"), [("dense/kernel", tensor_entry(array, **changes))], array.tobytes())
    return folder / "ckpt.index"


def _checkpoint_state(folder: Path, named: str) -> Path:
    """A folder whose `checkpoint` state file names a checkpoint outside it."""
    _checkpoint(folder)
    run = folder / "run"
    run.mkdir()
    (run / "checkpoint").write_text(f'model_checkpoint_path: "{named}"\n')
    return run


def prepare(folder: Path) -> None:
    """The secret files a crafted model may point at."""
    (folder / "secret.txt").write_bytes(SECRET * 64)
    with h5py.File(folder / "secret.h5", "w") as h5:
        h5["token"] = np.frombuffer(SECRET * 4, dtype=np.uint8)[:96].astype(np.float32).reshape(4, 24)


# ----------------------------------------------------------------- sizes the file does not store

def _json_bomb(folder: Path) -> Path:
    path = folder / "model.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b"[" + b" " * (80 << 20) + b"]")
        archive.writestr("metadata.json", "{}")
        archive.writestr("model.weights.h5", b"")
    return path


def _weights_bomb(folder: Path) -> Path:
    path = folder / "model.keras"
    weights = folder / "big.h5"
    write_weights_h5(weights, {"layers/dense": [np.zeros((2048, 1024), np.float32), np.zeros(1024, np.float32)]})
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("config.json", json.dumps(dense_model(1024, 2048)))
        archive.writestr("metadata.json", "{}")
        archive.write(weights, "model.weights.h5", compress_type=zipfile.ZIP_DEFLATED)
    weights.unlink()
    return path


def _unstored(shape: tuple[int, ...], chunks: tuple[int, ...] | None = None, written: bool = False,
              compression: str | None = None) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        def hook(h5: h5py.File) -> None:
            del h5["layers/dense/vars/0"]
            if compression:  # every chunk written: zeros, compressed far beyond any real weight
                h5["layers/dense/vars"].create_dataset("0", data=np.zeros(shape, np.float32), chunks=chunks,
                                                       compression=compression)
                return
            dataset = h5["layers/dense/vars"].create_dataset("0", shape=shape, dtype="f4", chunks=chunks)
            if written:  # the first chunk only
                dataset[:chunks[0]] = np.ones((chunks[0],) + shape[1:], np.float32)  # type: ignore[index]
        return write_archive(folder / "model.keras", dense_model(shape[-1], shape[0]),
                             {"layers/dense": [tensor(1, 1), tensor(shape[-1])]}, hook=hook)
    return make


def _deep_json(folder: Path) -> Path:
    return write_archive(folder / "model.keras", None, config_text=b"[" * 200_000 + b"]" * 200_000)


def _deep_models(folder: Path) -> Path:
    config: dict = dense_model()
    for depth in range(100):
        config = {"class_name": "Sequential", "config": {"name": f"s{depth}", "layers": [config]}}
    return write_archive(folder / "model.keras", config)


# ----------------------------------------------------------------- integrity and damage

def _crc_flip(folder: Path) -> Path:
    path = write_archive(folder / "model.keras", dense_model(64, 256), {"layers/dense": [tensor(256, 64),
                                                                                         tensor(64)]})
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("model.weights.h5")
    data[info.header_offset + 30 + len("model.weights.h5") + info.file_size // 2] ^= 0x10  # inside the kernel
    path.write_bytes(bytes(data))
    return path


def _corrupted(seed: int) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = write_legacy(folder / "model.h5", legacy_dense_config(), legacy_dense_layers())
        data = bytearray(path.read_bytes())
        rng = np.random.default_rng(seed)
        for position in rng.integers(0, 2048, 24):  # the superblock and object headers
            data[int(position)] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data))
        return path
    return make


def _heap_loop(folder: Path) -> Path:
    """A global heap collection whose free-space object has size 0: libhdf5 1.14 loops forever on it."""
    path = write_legacy(folder / "model.h5", legacy_dense_config(), legacy_dense_layers())
    data = bytearray(path.read_bytes())
    start = data.find(b"GCOL")
    position = start + 16
    while int.from_bytes(data[position:position + 2], "little") != 0:  # skip the strings to the free space
        size = int.from_bytes(data[position + 8:position + 16], "little")
        position += 16 + -(-size // 8) * 8
    data[position + 8:position + 16] = bytes(8)
    path.write_bytes(bytes(data))
    return path


def _name_twice(folder: Path) -> Path:
    """A weights file whose group names two variables `1` (a byte of its names changed): libhdf5 lists both,
    so a Dense had two biases and no kernel (found by fuzzing: a traceback)."""
    path = folder / "model.weights.h5"
    write_weights_h5(path, dense_weights())
    data = path.read_bytes()
    names = b"\x00" * 8 + b"0" + b"\x00" * 7 + b"1\x00"  # the vars group's local heap: '', '0', '1'
    assert data.count(names) == 1
    path.write_bytes(data.replace(names, names.replace(b"0\x00", b"1\x00", 1)))
    return path


def _missing_variable(folder: Path) -> Path:
    """A weights file whose Dense stores its bias (`vars/1`) and no kernel: an internal error until this stop."""
    path = folder / "model.weights.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("layers/dense/vars/1", data=tensor(3))
    return path


def _vlen_type_field(folder: Path) -> Path:
    """A string attribute whose variable-length type field names no type: libhdf5 1.14 crashed reading it."""
    path = write_legacy(folder / "model.h5", legacy_dense_config(), legacy_dense_layers())
    data = bytearray(path.read_bytes())
    name = data.find(b"backend\0")
    datatype = name + 8  # the name, padded to 8 bytes in a version 1 attribute message
    assert data[datatype] == 0x19, "the backend attribute is not a variable-length string here"
    data[datatype + 1] = 0x8B
    path.write_bytes(bytes(data))
    return path


def _dense_config(**dense: object) -> Callable[[Path], Path]:
    return lambda folder: write_archive(folder / "model.keras", dense_model(**dense))


def _conv(padding: object = "valid", strides: object = 1, kernel_size: object = 3,
          rank: int = 2) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        shape = [8] * rank + [2]
        config = functional([input_layer("x", shape), layer(f"Conv{rank}D", "conv", ["x"], filters=4,
                                                            kernel_size=kernel_size, strides=strides,
                                                            padding=padding, use_bias=True)])
        groups = {f"layers/conv{rank}d": [tensor(*([3] * rank), 2, 4), tensor(4)]}
        return write_archive(folder / "model.keras", config, groups)
    return make


def _dataset_hook(make_dataset: Callable[[h5py.Group], None]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        def hook(h5: h5py.File) -> None:
            del h5["layers/dense/vars/0"]
            make_dataset(h5["layers/dense/vars"])
        return write_archive(folder / "model.keras", dense_model(), hook=hook)
    return make


def _missing_filter(group: h5py.Group) -> None:
    space = h5py.h5s.create_simple((4, 3))
    plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    plist.set_chunk((4, 3))
    plist.set_filter(32001, h5py.h5z.FLAG_OPTIONAL)  # Blosc, absent here
    h5py.h5d.create(group.id, b"0", h5py.h5t.IEEE_F32LE, space, plist)


def _raw_member(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = write_archive(folder / "model.keras", dense_model())
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(zipfile.ZipInfo(name), data)
        return path
    return make


def _set_flag(path: Path, member: str, bit: int) -> None:
    """Set a general-purpose flag bit of `member` in its local header and central directory entry (zipfile
    writes its own flags, whatever a ZipInfo says)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo(member).header_offset
    data[local + 6] |= bit  # local file header: signature, version, then the flags
    name = member.encode()
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        length = int.from_bytes(data[central + 28:central + 30], "little")
        if data[central + 46:central + 46 + length] == name:
            data[central + 8] |= bit  # central directory entry: signature, two versions, then the flags
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


def _encrypted_config(folder: Path) -> Path:
    """A whole archive but for its config.json, whose encrypted flag is set."""
    path = folder / "model.keras"
    weights = folder / "weights.tmp.h5"
    write_weights_h5(weights, dense_weights())
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(dense_model()))
        archive.writestr("metadata.json", "{}")
        archive.write(weights, "model.weights.h5")
    weights.unlink()
    _set_flag(path, "config.json", 0x1)
    return path


def _bad_inbound(folder: Path) -> Path:
    config = dense_model()
    config["config"]["layers"][1]["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__",
                                                                 "config": {"keras_history": [["x"], "0", None]}}]}]
    return write_archive(folder / "model.keras", config)


def _missing_group(folder: Path) -> Path:
    def hook(h5: h5py.File) -> None:
        h5["model_weights"].attrs["layer_names"] = [b"dense", b"ghost"]
    return write_legacy(folder / "model.h5", legacy_dense_config(), legacy_dense_layers(), hook=hook)


CASES: list[Case] = [
    # code from the file must never run, in any command
    Case("keras_version_payload", "code", version_payload),
    Case("h5_keras_version_payload", "code", h5_version_payload),
    Case("source_path_payload", "code", path_payload),
    Case("cropping_payload", "code", config_payload("Cropping1D", cropping="PAYLOAD_PAIR"),
         {"export": "cropping", "verify": "cropping"}),
    Case("zero_padding_payload", "code", config_payload("ZeroPadding1D", padding="PAYLOAD"),
         {"export": "padding", "verify": "padding"}),
    Case("reshape_payload", "code", config_payload("Reshape", target_shape=["PAYLOAD", 4]),
         {"export": "target_shape"}),
    Case("rescaling_payload", "code", config_payload("Rescaling", scale="PAYLOAD"), {"export": "scale"}),
    Case("leaky_relu_payload", "code", config_payload("LeakyReLU", negative_slope="PAYLOAD"),
         {"export": "negative_slope"}),
    Case("pooling_payload", "code", config_payload("MaxPooling1D", pool_size="PAYLOAD"), {"export": "pool_size"}),
    Case("softmax_axis_payload", "code", config_payload("Softmax", axis="PAYLOAD"), {"export": "axis"}),
    Case("upsampling_payload", "code", config_payload("UpSampling1D", size="PAYLOAD"), {"export": "size"}),
    Case("einsum_equation_payload", "code", einsum_payload, {"convert": "equation", "export": "equation"}),
    Case("names_payload", "code", name_payload),
    Case("reserved_names", "code", reserved_names),
    Case("lambda_behind_architecture", "code", lambda_legacy, {"verify": "Lambda"},
         ("--architecture", "{folder}/clean.json")),
    Case("keras3_lambda", "code", keras3_lambda, {"export": "Lambda", "verify": "Lambda"}),
    Case("npz_pickled_weights", "code", npz_weights, {ALL: "pickled"}),
    Case("module_import", "code", module_import, {"export": "activation", "verify": "antigravity"}),
    Case("tf_op_write_file", "code", tf_op_write_file, {"export": "TFOpLambda", "verify": "TFOpLambda"}),
    # nothing outside the given file is read
    Case("external_storage", "foreign", external_storage, {ALL: "external file"}),
    Case("virtual_dataset", "foreign", virtual_dataset, {ALL: "virtual dataset"}),
    Case("external_link", "foreign", external_link, {ALL: "external link"}),
    Case("soft_link_loop", "foreign", soft_link("/model_weights/loop"), {ALL: "soft link"}),
    Case("dangling_soft_link", "foreign", soft_link("/nowhere"), {ALL: "soft link"}),
    Case("shard_parent_folder", "foreign", shard_index(lambda folder: "../outside/secret.weights.h5"),
         {ALL: "bare file names"}),
    Case("shard_absolute_path", "foreign", shard_index(lambda folder: str(folder / "outside/secret.weights.h5")),
         {ALL: "bare file names"}),
    Case("shard_symlink_outside", "foreign", shard_index(lambda folder: "shard.weights.h5", link=True),
         {ALL: "outside the index's folder"}),
    Case("hub_shard_parent_folder", "foreign", hub_shard_index(link=False), {ALL: "bare file names"}),
    Case("hub_shard_symlink_outside", "foreign", hub_shard_index(link=True), {ALL: "outside the index's folder"}),
    # memory and output bounded by what the file stores
    Case("json_bomb", "size", _json_bomb, {ALL: "compression ratio"}),
    Case("weights_member_bomb", "size", _weights_bomb, {ALL: "compression ratio"}),
    Case("declared_1gb_unstored", "size", _unstored((16384, 16384)), {ALL: "stores none"}),
    Case("declared_64gb_unstored", "size", _unstored((1 << 17, 1 << 17)), {ALL: "stores none"}),
    Case("missing_chunks", "size", _unstored((4096, 256), chunks=(256, 256), written=True), {ALL: "chunks"}),
    Case("chunk_compression_bomb", "size", _unstored((8192, 1024), chunks=(1024, 1024), written=True,
                                                     compression="gzip"), {ALL: "compression ratio"}),
    Case("deep_json", "size", _deep_json, {ALL: "nested"}),
    Case("deep_models", "size", _deep_models, {ALL: "nested"}),
    # a damaged file never converts silently
    Case("crc_flip", "integrity", _crc_flip, {"convert": "CRC", "export": "CRC", "verify": "CRC"}),
    Case("heap_free_space_loop", "integrity", _heap_loop, {ALL: "global heap"}),
    Case("vlen_type_field", "integrity", _vlen_type_field, {ALL: "not a string"}),
    Case("name_twice", "integrity", _name_twice, {ALL: "names two objects alike"}),
    Case("missing_variable", "malformed", _missing_variable,
         {"inspect": "has no tensor 'kernel'", "convert": "has no tensor 'kernel'", "export": "has no tensor 'kernel'",
          "verify": "holds weights only"}),
    Case("checkpoint_offset_past_shard", "size", lambda folder: _checkpoint(folder, offset=1 << 30),
         {ALL: "past the end"}),
    Case("checkpoint_absurd_shape", "size", lambda folder: _checkpoint(folder, shape=(1 << 31, 1 << 31)),
         {ALL: "bytes stored"}),
    Case("checkpoint_state_outside", "foreign", lambda folder: _checkpoint_state(folder, "../ckpt"),
         {ALL: "only files in the folder"}),
    Case("corrupted_1", "integrity", _corrupted(1)),  # whatever it does: no traceback, no foreign bytes
    Case("corrupted_2", "integrity", _corrupted(2)),
    Case("corrupted_3", "integrity", _corrupted(3)),
    # malformed configs and datasets: one line, exit 2
    Case("units_wrong_type", "malformed", _dense_config(units="3"), {ALL: "units"}),
    Case("units_contradict_kernel", "malformed", _dense_config(units=7), {ALL: "units"}),
    Case("use_bias_wrong_type", "malformed", _dense_config(use_bias="yes"), {ALL: "use_bias"}),
    Case("zero_strides", "malformed", _conv(strides=[0, 1]), {ALL: "strides"}),
    Case("padding_full", "malformed", _conv(padding="full"), {ALL: "padding"}),
    Case("kernel_size_contradict", "malformed", _conv(kernel_size=5), {ALL: "kernel_size"}),
    Case("config_null", "malformed", lambda folder: write_archive(folder / "model.keras", None),
         {ALL: "not a Keras model config"}),
    Case("config_list_class", "malformed", lambda folder: write_archive(
        folder / "model.keras", {"class_name": ["Functional"], "config": {"layers": []}}), {ALL: "class_name"}),
    Case("float128", "malformed", _dataset_hook(lambda group: group.create_dataset(
        "0", data=np.zeros((4, 3), np.longdouble))), {ALL: "dtype"}),
    Case("null_dataspace", "malformed", _dataset_hook(lambda group: group.create_dataset(
        "0", data=h5py.Empty("f4"))), {ALL: "null dataspace"}),
    Case("compound_two_bytes", "malformed", _dataset_hook(lambda group: group.create_dataset(
        "0", data=np.zeros((4, 3), dtype=[("a", "u1"), ("b", "u1")]))), {ALL: "dtype"}),
    Case("missing_filter", "malformed", _dataset_hook(_missing_filter), {ALL: "filter"}),
    Case("duplicate_member", "malformed", _raw_member("config.json", b"{}"), {ALL: "two members"}),
    Case("encrypted_member", "malformed", _encrypted_config, {ALL: "encrypted"}),
    Case("bad_inbound_nodes", "malformed", _bad_inbound, {"export": "tensor reference", "verify": ""}),
    Case("missing_layer_group", "malformed", _missing_group, {ALL: "ghost"}),
    Case("duplicate_layer_names", "malformed", lambda folder: write_archive(folder / "model.keras", functional(
        [input_layer("x", [4]), layer("Dense", "x", ["x"], units=3, use_bias=True)])), {ALL: "several layers"}),
]


def make_all(out: Path) -> list[tuple[Case, Path]]:
    """Write every case into its own folder under `out`."""
    made = []
    for case in CASES:
        folder = out / case.name
        folder.mkdir(parents=True)
        prepare(folder)
        made.append((case, case.make(folder)))
    return made


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile")
    for case, path in make_all(target):
        refused = ", ".join(f"{command}: {words!r}" for command, words in case.refused.items()) or "must not run code"
        print(f"{case.kind:10} {case.name:28} {path.relative_to(target)}  ({refused})")
