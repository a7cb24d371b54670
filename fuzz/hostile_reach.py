"""Crafted files that try to reach past themselves: code in a config, a name or a version string that must never
run, and links, external storage and shard indexes that point at bytes outside the file. The cases that use them:
fuzz/hostile.py."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from craft import (  # noqa: E402
    dense_model, dense_weights, functional, input_layer, layer, legacy_dense_config, legacy_dense_layers, tensor,
    write_archive, write_legacy, write_weights_h5,
)

SECRET = b"WEIGHTPORT-SECRET-TOKEN-7f3a9c"  # the bytes of the secret files beside each case: no output may hold them
MARKER_VARIABLE = "WEIGHTPORT_TEST_MARKER"  # set to the case's MARKER path while commands run


def marker(folder: Path) -> str:
    return str(folder / "MARKER")


def payload(folder: Path) -> str:
    """Python that creates MARKER if it ever runs."""
    return f"__import__('pathlib').Path({marker(folder)!r}).touch()"


# ----------------------------------------------------------------- code from the file

def version_payload(folder: Path) -> Path:
    return write_archive(folder / "model.keras", dense_model(),
                         metadata={"keras_version": f'3"""\n{payload(folder)}\n"""'})


def h5_version_payload(folder: Path) -> Path:
    return write_legacy(folder / "model.h5", legacy_dense_config(), legacy_dense_layers(),
                        keras_version=f'2"""+{payload(folder)}+"""')


def path_payload(folder: Path) -> Path:
    # a file name cannot hold "/": this payload finds MARKER through the environment (see MARKER_VARIABLE)
    code = f"__import__('pathlib').Path(__import__('os').environ[{MARKER_VARIABLE!r}]).touch()"
    return write_archive(folder / f'm"""\n{code}\n""".keras', dense_model())


def config_payload(class_name: str, **options: object) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        value = {key: (payload(folder) if item == "PAYLOAD" else
                       [payload(folder), 1] if item == "PAYLOAD_PAIR" else item) for key, item in options.items()}
        config = functional([input_layer("x", [6, 4]), layer(class_name, "op", ["x"], **value),
                             layer("Dense", "dense", ["op"], units=3, activation="linear", use_bias=True)])
        return write_archive(folder / "model.keras", config)
    return make


def einsum_payload(folder: Path) -> Path:
    """An EinsumDense whose equation carries code: its einsum reaches generated source only once parsed."""
    config = functional([input_layer("x", [6, 4]),
                         layer("EinsumDense", "mix", ["x"], equation=f"abc,cd->abd'),{payload(folder)},('",
                               output_shape=[None, 3], bias_axes="d", activation="linear")])
    return write_archive(folder / "model.keras", config, {"layers/einsum_dense": [tensor(4, 3), tensor(3)]})


def name_payload(folder: Path) -> Path:
    config = functional([input_layer("x", [4]), layer("Dense", f"d = {payload(folder)}", ["x"], units=3,
                                                     activation="linear", use_bias=True)], name=payload(folder))
    return write_archive(folder / "model.keras", config)


def reserved_names(folder: Path) -> Path:
    config = functional([input_layer("self", [4]),
                         layer("Dense", "forward", ["self"], units=3, activation="relu", use_bias=True),
                         layer("Dense", "class", ["forward"], units=3, activation="linear", use_bias=True),
                         layer("Dense", "torch", ["class"], units=3, activation="linear", use_bias=True)], name="F")
    return write_archive(folder / "model.keras", config, {"layers/dense": [tensor(4, 3), tensor(3)],
                                                          "layers/dense_1": [tensor(3, 3), tensor(3)],
                                                          "layers/dense_2": [tensor(3, 3), tensor(3)]})


def lambda_legacy(folder: Path) -> Path:
    import marshal

    code = compile(payload(folder), "<lambda>", "exec")
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "Dense", "config": {"name": "dense", "units": 3, "activation": "linear", "use_bias": True,
                                           "batch_input_shape": [None, 4]}},
        {"class_name": "Lambda", "config": {"name": "lambda", "function": [marshal.dumps(code).hex(), None, None],
                                            "function_type": "lambda", "arguments": {}}}]}}
    (folder / "clean.json").write_text(json.dumps(legacy_dense_config()))
    return write_legacy(folder / "model.h5", config, legacy_dense_layers())


def keras3_lambda(folder: Path) -> Path:
    import base64
    import marshal

    function = {"class_name": "__lambda__", "config": {
        "code": base64.b64encode(marshal.dumps(compile(payload(folder), "<lambda>", "exec"))).decode(),
        "defaults": None, "closure": None}}
    config = functional([input_layer("x", [4]), layer("Dense", "dense", ["x"], units=3, use_bias=True),
                         layer("Lambda", "lambda", ["dense"], function=function)])
    return write_archive(folder / "model.keras", config)


class _Runs:
    """An object whose unpickling runs `code` (as a crafted npy of dtype object carries it)."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (self.code,)


def npz_weights(folder: Path) -> Path:
    """A .keras archive whose weights are model.weights.npz (Keras's NumPy store) holding a pickled payload, as
    a public repository's crafted model does."""
    import io
    import zipfile

    store = io.BytesIO()
    np.savez(store, **{"layers/dense": np.array([_Runs(payload(folder))], dtype=object)})
    path = folder / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps(dense_model()))
        archive.writestr("model.weights.npz", store.getvalue())
    return path


def module_import(folder: Path) -> Path:
    config = dense_model(activation={"module": "antigravity", "class_name": "function", "config": "geohash",
                                     "registered_name": "geohash"})
    return write_archive(folder / "model.keras", config)


def tf_op_write_file(folder: Path) -> Path:
    config = functional([input_layer("x", [4]), layer("Dense", "dense", ["x"], units=3, use_bias=True),
                         layer("TFOpLambda", "tf.io.write_file", ["dense"], function="io.write_file")])
    return write_archive(folder / "model.keras", config)


# ----------------------------------------------------------------- bytes from outside the file

def external_storage(folder: Path) -> Path:
    def hook(h5: h5py.File) -> None:
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars"].create_dataset("0", shape=(4, 3), dtype="f4",
                                               external=[(str(folder / "secret.txt"), 0, 48)])
    return write_archive(folder / "model.keras", dense_model(), hook=hook)


def virtual_dataset(folder: Path) -> Path:
    def hook(h5: h5py.File) -> None:
        del h5["layers/dense/vars/0"]
        layout = h5py.VirtualLayout(shape=(4, 3), dtype="f4")
        layout[:, :] = h5py.VirtualSource(str(folder / "secret.h5"), "token", shape=(4, 24))[:, :3]
        h5["layers/dense/vars"].create_virtual_dataset("0", layout)
    return write_archive(folder / "model.keras", dense_model(), hook=hook)


def external_link(folder: Path) -> Path:
    def hook(h5: h5py.File) -> None:
        del h5["model_weights/dense/dense/kernel:0"]
        h5["model_weights/dense/dense/kernel:0"] = h5py.ExternalLink(str(folder / "secret.h5"), "/token")
    return write_legacy(folder / "model.h5", legacy_dense_config(), legacy_dense_layers(), hook=hook)


def soft_link(target: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        def hook(h5: h5py.File) -> None:
            h5["model_weights/loop"] = h5py.SoftLink(target)
        return write_legacy(folder / "model.h5", legacy_dense_config(), legacy_dense_layers(), hook=hook)
    return make


def shard_index(name: Callable[[Path], str], link: bool = False) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        outside = folder / "outside"
        outside.mkdir()
        write_weights_h5(outside / "secret.weights.h5", dense_weights())
        shard = name(folder)
        if link:
            os.symlink(outside / "secret.weights.h5", folder / shard)
        index = folder / "model.weights.json"
        index.write_text(json.dumps({"metadata": {}, "weight_map": {"/layers/dense/vars": shard}}))
        return index
    return make


def hub_shard_index(link: bool) -> Callable[[Path], Path]:
    """A sharded Hugging Face TF checkpoint whose index names a shard outside its folder (by path or by link)."""
    def make(folder: Path) -> Path:
        outside = folder / "outside"
        outside.mkdir()
        with h5py.File(outside / "secret.h5", "w") as shard:
            shard["pooler/dense/kernel:0"] = np.frombuffer(SECRET * 4, dtype=np.uint8)[:96].astype(np.float32)
            shard.attrs["layer_names"] = np.array(["pooler/dense/kernel:0"], dtype="S")
        model = folder / "model"
        model.mkdir()
        shard_name = "tf_model-00001-of-00001.h5" if link else "../outside/secret.h5"
        if link:
            os.symlink(outside / "secret.h5", model / shard_name)
        (model / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["TFBertModel"]}))
        (model / "tf_model.h5.index.json").write_text(json.dumps(
            {"metadata": {}, "weight_map": {"tf_bert_model/pooler/dense/kernel:0": shard_name}}))
        return model
    return make
