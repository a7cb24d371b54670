"""`--dtype` casts every floating tensor as torch's .to(dtype) does, in every writer, streamed or not."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import converter
from helpers import fixture


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_cast_matches_torch(tmp_path, dtype, suffix):
    source = fixture("keras3/dtypes.keras")
    reference = {key: torch.from_numpy(np.array(value)) if value.dtype.kind != "V" else None
                 for key, value in converter.state_dict(source).items()}
    destination = tmp_path / f"w{suffix}"
    conversion = converter.convert(source, destination, dtype=dtype)
    written = load_file(str(destination)) if suffix == ".safetensors" else torch.load(destination, weights_only=True)
    for key, value in written.items():
        original = reference.get(key)
        if original is None or not original.is_floating_point():
            continue  # bfloat16 sources and integers: checked below
        assert value.dtype == getattr(torch, dtype), key
        assert torch.equal(value, original.to(getattr(torch, dtype))), key
    record = {entry["key"]: entry for entry in conversion.record()}
    assert any("cast" in entry["transform"] for entry in record.values()) or dtype == "float32"
    integers = [key for key, value in reference.items() if value is not None and not value.is_floating_point()]
    for key in integers:
        assert written[key].dtype == reference[key].dtype


@pytest.mark.parametrize("page_cache", [True, False], ids=["page-cache", "direct"])
def test_streamed_bands_cast_like_whole_tensors(tmp_path, monkeypatch, page_cache):
    """A tensor larger than the write buffer goes band by band through rows(): the cast applies there too."""
    import keras

    model = keras.Sequential([keras.Input((300,)), keras.layers.Dense(2000, name="big")])
    model.layers[0].kernel.assign(np.random.default_rng(0).normal(size=(300, 2000)).astype("float32"))
    path = str(tmp_path / "big.keras")
    model.save(path)
    from converter.writers import block_file, safetensors_file

    monkeypatch.setattr(block_file.BlockFile, "BUFFER", 1 << 16)
    monkeypatch.setattr(safetensors_file, "BAND", 1 << 16)
    if not page_cache:
        monkeypatch.setattr(safetensors_file, "PAGE_CACHE_BYTES", 0)
    converter.convert(path, tmp_path / "w.safetensors", dtype="bfloat16")
    reference = torch.from_numpy(np.array(converter.state_dict(path)["big.weight"])).to(torch.bfloat16)
    assert torch.equal(load_file(str(tmp_path / "w.safetensors"))["big.weight"], reference)


def test_unknown_dtype_is_an_argument_error(tmp_path):
    with pytest.raises(converter.ArgumentError):
        converter.convert(fixture("keras3/mlp.keras"), tmp_path / "w.safetensors", dtype="int8")
