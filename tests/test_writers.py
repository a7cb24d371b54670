"""Every writer round-trips exactly, for every dtype, and records its convention."""
from __future__ import annotations


import h5py
import numpy as np
import pytest
import torch
from safetensors import safe_open

import converter
from converter.writers import npz_file
from helpers import fixture, load_keras_model

SUFFIXES = [".safetensors", ".pt", ".pth", ".npz", ".h5", ".hdf5"]


def bits(array) -> np.ndarray:
    """An array's raw bytes as unsigned integers, so that comparisons are exact (NaN too)."""
    array = np.ascontiguousarray(array)
    return array.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[array.dtype.itemsize])


def read_back(path: str) -> tuple[dict[str, tuple[str, np.ndarray]], dict[str, str]]:
    """{key: (dtype name, raw bits)} and the metadata, read with each format's own library."""
    result: dict[str, tuple[str, np.ndarray]] = {}
    if path.endswith(".safetensors"):
        with safe_open(path, "pt") as handle:
            metadata = handle.metadata()
            for key in handle.keys():
                result[key] = _from_torch(handle.get_tensor(key))
    elif path.endswith((".pt", ".pth")):
        state_dict = torch.load(path, weights_only=True)
        metadata = state_dict._metadata["__weightport__"]
        result = {key: _from_torch(value) for key, value in state_dict.items()}
    elif path.endswith(".npz"):
        metadata = npz_file.read_metadata(path)
        with np.load(path, allow_pickle=False) as archive:
            for key, array in archive.items():  # tensors only: the metadata is not an entry
                dtype = "bfloat16" if key in metadata["bfloat16_keys"] else array.dtype.name
                result[key] = (dtype, bits(array))
    else:
        with h5py.File(path, "r") as h5:
            metadata = {key: str(value) for key, value in h5.attrs.items()}
            for key, dataset in h5.items():
                dtype = dataset.attrs.get("dtype", dataset.dtype.name)
                result[key] = (str(dtype), bits(dataset[()]))
    return result, metadata


def _from_torch(tensor: torch.Tensor) -> tuple[str, np.ndarray]:
    if tensor.dtype == torch.bfloat16:
        return "bfloat16", tensor.view(torch.int16).numpy().view(np.uint16)
    return str(tensor.dtype).removeprefix("torch."), bits(tensor.numpy())


@pytest.mark.parametrize("layout", ["torch", "keras"])
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_is_exact_for_every_dtype(tmp_path, suffix, layout):
    source = fixture("keras3/dtypes.keras")
    destination = str(tmp_path / f"out{suffix}")
    conversion = converter.convert(source, destination, layout=layout)
    written, metadata = read_back(destination)

    expected = {key: (array.dtype.name, bits(array))
                for key, array in converter.state_dict(source, layout=layout).items()}
    assert {dtype for dtype, _ in expected.values()} == {"float64", "float16", "bfloat16", "float32"}
    assert sorted(written) == sorted(expected)
    for key, (dtype, raw) in expected.items():
        assert written[key][0] == dtype, key
        assert written[key][1].shape == raw.shape, key
        np.testing.assert_array_equal(written[key][1], raw, err_msg=key)
    assert metadata["weightport_source"] == source
    assert metadata["weightport_format"] == "keras-archive"
    assert metadata["weightport_keras_version"] == "3.15.1" or metadata["weightport_keras_version"].startswith("3.")
    assert metadata["weightport_layout"] == layout
    assert len(conversion.tensors) == 8


# Keras 3 cannot load bfloat16 weights from its own legacy .h5 ("No cast function
# available"), so that file is checked against the .keras saved from the same model.
@pytest.mark.parametrize("source, writer, reference", [
    ("keras3/dtypes.keras", "keras3", "keras3/dtypes.keras"),
    ("keras3/dtypes.h5", "keras3", "keras3/dtypes.keras"),
    ("keras2/dtypes.h5", "keras2", "keras2/dtypes.h5"),
])
def test_dtypes_are_kept_and_values_are_keras_weights(source, writer, reference):
    """float16, bfloat16 and float64 weights come out in their own dtype, bit for bit."""
    import ml_dtypes

    keras_model = load_keras_model(fixture(reference), writer)
    weights = converter.state_dict(fixture(source))
    for layer in keras_model.layers:
        kernel, bias = (np.asarray(w) for w in layer.get_weights())
        for key, expected in ((f"{layer.name}.weight", kernel.T), (f"{layer.name}.bias", bias)):
            actual = weights[key]
            assert actual.dtype == expected.dtype, key
            if expected.dtype == ml_dtypes.bfloat16:
                actual, expected = actual.view(np.uint16), expected.view(np.uint16)
            np.testing.assert_array_equal(actual, expected, err_msg=key)


def test_pt_file_loads_with_weights_only_into_a_module(tmp_path):
    destination = tmp_path / "mlp.pt"
    converter.convert(fixture("keras2/mlp.h5"), destination)
    state_dict = torch.load(destination, weights_only=True)
    module = torch.nn.Module()
    module.dense_1 = torch.nn.Linear(2000, 32)
    module.dense_2 = torch.nn.Linear(32, 1)
    assert not module.load_state_dict(state_dict, strict=True).missing_keys


def test_npz_holds_tensors_only_and_keeps_metadata_in_its_comment(tmp_path):
    path = str(tmp_path / "w.npz")
    converter.convert(fixture("keras3/mlp.keras"), path, dtype="bfloat16")
    with np.load(path, allow_pickle=False) as archive:
        state_dict = {key: torch.from_numpy(value) for key, value in archive.items()}
    metadata = npz_file.read_metadata(path)
    assert metadata["weightport_format"] == "keras-archive" and sorted(metadata["bfloat16_keys"]) == sorted(state_dict)
    assert all(value.dtype == torch.uint16 for value in state_dict.values())


def test_existing_destination_needs_force(tmp_path):
    destination = tmp_path / "out.safetensors"
    destination.write_bytes(b"precious")
    with pytest.raises(converter.WriteError, match="already exists"):
        converter.convert(fixture("keras3/mlp.keras"), destination)
    assert destination.read_bytes() == b"precious"
    converter.convert(fixture("keras3/mlp.keras"), destination, force=True)
    assert destination.read_bytes() != b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["out.safetensors"]  # no temporary left


def test_failed_write_leaves_no_file(tmp_path, monkeypatch):
    from converter.writers import safetensors_file

    def broken(path, tensors, metadata, progress=None):
        with open(path, "wb") as handle:
            handle.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setitem(converter.WRITERS, ".safetensors", broken)
    with pytest.raises(converter.WriteError, match="disk full"):
        converter.convert(fixture("keras3/mlp.keras"), tmp_path / "out.safetensors")
    assert list(tmp_path.iterdir()) == []
    assert safetensors_file.write is not broken


def test_unknown_suffix_is_refused_before_reading(tmp_path):
    with pytest.raises(converter.WriteError, match="unknown output suffix .bin"):
        converter.convert(fixture("keras3/mlp.keras"), tmp_path / "out.bin")


def test_safetensors_item_sizes_are_numpys():
    """The writer's table of bytes per element (offsets in the header come from it) agrees with numpy's."""
    from converter.writers import safetensors_file

    assert set(safetensors_file.ITEMSIZES) == set(safetensors_file.DTYPES)
    for name, size in safetensors_file.ITEMSIZES.items():
        assert size == safetensors_file.stored_dtype(name).itemsize, name
