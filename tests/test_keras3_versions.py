"""Files written by earlier Keras 3s, against the outputs that Keras computed (fixtures/make_keras3_versions.py).

Each holds layers that compute differently in the Keras 3 after it: masked merges (3.3), a channels_first
convolution's bias (3.6), MultiHeadAttention's masks (3.7, 3.9: recorded in the config), EinsumDense's bias and a
masked Softmax (3.9, 3.12), and a layer of another dtype that drops its input's mask when it casts it (3.13: Keras
3.0 to 3.13 cast to a new tensor without the mask; 3.14 keeps it; 3.3: where no mask is recorded for the call, and
nested models whose Inputs those Keras built as the dtype of the layer reading them; a list's masks recorded for
the call, which it runs with after a cast), and Keras 3.0.5's normalize, whose axis and order a model swapped;
ops.threshold's arguments, which Keras 3.9 and 3.10 record under other names; the scores attention layers return,
which carry the attention mask from Keras 3.11 (MultiHeadAttention) and 3.15 (GroupQueryAttention) on.
The module follows the Keras that wrote the file. Found by the random-graph fuzzer run with those Keras versions
(sweeps/random_graphs.py with an earlier keras on PYTHONPATH): the masked merges (Keras 3.3) and EinsumDense's bias
(Keras 3.8) were built as later Keras computes them, 0.1 to 0.6 off; the masks Keras 3.8 and 3.9 record for a
MultiHeadAttention's call (it runs with them, whatever an attention before it cleared) were not read, 0.064 off;
the masks Keras 3.10 to 3.13 drop on a cast were kept (seed 672108: a float64 Dense before a Bidirectional LSTM).
"""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

import converter
from helpers import fixture

CASES = [("3.3", "merges"), ("3.6", "conv_bias"), ("3.7", "attention_masks"), ("3.9", "einsum_bias"),
         ("3.9", "masked_softmax"), ("3.9", "attention_masks"), ("3.12", "masked_softmax"), ("3.13", "cast_masks"),
         ("3.3", "nested_casts"), ("3.3", "cast_list_masks"), ("3.0", "normalize_swapped"),
         ("3.12", "normalization_given"), ("3.3", "one_hot"), ("3.0", "bidirectional_from_config"),
         ("3.9", "threshold_names"), ("3.9", "scores_masks"), ("3.13", "scores_masks")]


@pytest.mark.parametrize("version, name", CASES, ids=[f"{version}-{name}" for version, name in CASES])
def test_a_file_of_an_earlier_keras_3_computes_as_that_keras_did(version, name):
    io = np.load(fixture(f"keras{version}/io.npz"))
    inputs = [io[f"{name}_in{i}"] for i in range(sum(key.startswith(f"{name}_in") for key in io.files))]
    expected = [io[f"{name}_out{i}"] for i in range(sum(key.startswith(f"{name}_out") for key in io.files))]
    module = converter.to_torch(fixture(f"keras{version}/{name}.keras"), input_layout="keras")
    with torch.no_grad():
        outputs = module(*[torch.from_numpy(array) for array in inputs])
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    assert len(outputs) == len(expected)
    for got, want in zip(outputs, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5, rtol=1e-5)


TORCH_VERSIONS = ["3.3", "3.8", "3.14", "3.15"]


@pytest.mark.parametrize("version", TORCH_VERSIONS)
def test_same_padding_on_the_torch_backend_computes_as_that_keras_did(version, tmp_path):
    """Keras 3's torch backend pads 'same' by rules of its own, which changed from version to version: an average
    pooling padded unevenly counts edge copies (every version; Keras 3.0 to 3.4 padded a zero, on the wrong axis),
    Keras 3.0 to 3.8 crop where the total is negative (a 1x1 convolution of stride 2 reads the odd rows) and
    give an even padding in reverse axis order, and Keras 3.0 to 3.14 pad transposed convolutions by torch's
    symmetric rule. Found by the fuzzer with Keras 3.3 to 3.8 on torch (0.03 to 1.0 off), and by a sweep of
    pool and stride sizes with each Keras 3 from 3.0.5 to 3.15 (`fixtures/keras3.N-torch`, one output per
    layer). A model that ran there (keras_backend="torch", or an .h5 recording it) is built as that Keras
    computed; the module built and the exported model.py match its outputs, and the same file built as
    TensorFlow pads differs."""
    from graph_fuzz import run_exported

    io = np.load(fixture(f"keras{version}-torch/io.npz"))
    inputs = [io[f"torch_same_in{i}"] for i in range(sum(key.startswith("torch_same_in") for key in io.files))]
    expected = [io[f"torch_same_out{i}"] for i in range(sum(key.startswith("torch_same_out") for key in io.files))]
    path = fixture(f"keras{version}-torch/torch_same.keras")
    module = converter.to_torch(path, input_layout="keras", keras_backend="torch")
    tensorflow_rule = converter.to_torch(path, input_layout="keras")  # what a .keras is taken for by default
    with torch.no_grad():
        outputs = module(*[torch.from_numpy(array) for array in inputs])
        assumed = tensorflow_rule(*[torch.from_numpy(array) for array in inputs])
    assert len(outputs) == len(expected) >= 70
    for got, want in zip(outputs, expected):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5, rtol=1e-5)
    differing = sum(got.shape != want.shape or not np.allclose(got.numpy(), want, atol=1e-3)
                    for got, want in zip(assumed, expected))
    assert differing >= 5
    for got, want in zip(run_exported(path, inputs, tmp_path, "torch"), expected):  # torch layout, Keras's back
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_operations_on_the_torch_backend_compute_as_that_keras_did():
    """Keras 3's torch backend pads 'symmetric' as torch's 'replicate' (the edge repeated), returns top_k's ties
    in torch.topk's order (TensorFlow's: by index), clips with crossed bounds to x_max (torch.clamp; TensorFlow's
    clip to x_min), and sums or takes the max over every axis as a 0-d tensor whatever keepdims says. A model that
    ran there (Keras 3.15 on torch wrote fixtures/keras3.15-torch/torch_ops.keras) is built so; the same file built
    as TensorFlow computes differs in every output (values or shape)."""
    io = np.load(fixture("keras3.15-torch/io.npz"))
    inputs, expected = io["torch_ops_in0"], [io[f"torch_ops_out{i}"] for i in range(5)]
    path = fixture("keras3.15-torch/torch_ops.keras")
    with torch.no_grad():
        outputs = converter.to_torch(path, input_layout="keras", keras_backend="torch")(torch.from_numpy(inputs))
        assumed = converter.to_torch(path, input_layout="keras")(torch.from_numpy(inputs))
    for got, want in zip(outputs, expected):
        assert got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    assert all(got.shape != want.shape or not np.allclose(got.numpy(), want) for got, want in zip(assumed, expected))


MOMENTS_ON_TORCH = """
import sys
import keras, numpy as np
x = keras.Input((5, 4))
mean, variance = keras.ops.moments(x * 100.0 + 1000.0, axes=[1, 2])
model = keras.Model(x, keras.ops.stack([mean, variance], axis=-1))
model.save(sys.argv[1] + "/moments.keras")
data = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")
np.savez(sys.argv[1] + "/io.npz", x=data, y=keras.ops.convert_to_numpy(model(data)))
"""


def test_moments_on_the_torch_backend_compute_as_that_keras_did(tmp_path):
    """keras.ops.moments: Keras's torch backend computes the variance as E[x^2] - E[x]^2, TensorFlow's as the mean
    of the squared deviations; of data of mean 1000 they differ by 0.27 in 7240. Keras 3 on torch (a process of its
    own) writes the model; built with keras_backend="torch" it gives Keras's numbers, built as TensorFlow computes
    it does not."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, KERAS_BACKEND="torch")
    subprocess.run([sys.executable, "-c", MOMENTS_ON_TORCH, str(tmp_path)], check=True, env=env, timeout=300)
    io = np.load(tmp_path / "io.npz")
    path = str(tmp_path / "moments.keras")
    with torch.no_grad():
        on_torch = converter.to_torch(path, keras_backend="torch")(torch.from_numpy(io["x"])).numpy()
        as_tensorflow = converter.to_torch(path)(torch.from_numpy(io["x"])).numpy()
    np.testing.assert_allclose(on_torch, io["y"], atol=0, rtol=1e-6)
    assert np.abs(as_tensorflow - io["y"]).max() > 1e-2


def test_a_masked_input_read_in_two_dtypes_is_refused_for_keras_3_0_to_3_4(tmp_path):
    """Keras 3.0 to 3.4 convert a nested model's input to the dtype of the layer built last on it, and a layer of
    another dtype runs without the mask: with layers of two dtypes on a masked input, which one that was is not in
    the file. Refused by name there; built for later Keras, which keep the Input's dtype."""
    import keras

    from helpers import with_keras_version

    ids = keras.Input((6,), dtype="int32")
    x = keras.Input((6, 3), dtype="float64")
    both = keras.layers.Concatenate()([keras.layers.LSTM(2, return_sequences=True)(x),
                                       keras.layers.LSTM(2, return_sequences=True, dtype="float64")(x)])
    inner = keras.Model(x, both, name="inner")
    model = keras.Model(ids, keras.layers.LSTM(2)(inner(keras.layers.Embedding(5, 3, mask_zero=True)(ids))))
    model.save(tmp_path / "new.keras")
    old = with_keras_version(tmp_path / "new.keras", tmp_path / "old.keras", "3.4.1")
    with pytest.raises(converter.UnsupportedLayerError, match="inner: its masked input .* several dtypes"):
        converter.to_torch(old)
    ids_in = np.array([[1, 2, 0, 0, 0, 0], [3, 4, 1, 2, 3, 4]], dtype="int32")
    with torch.no_grad():
        got = converter.to_torch(tmp_path / "new.keras", input_layout="keras")(torch.from_numpy(ids_in))
    np.testing.assert_allclose(got.numpy(), keras.ops.convert_to_numpy(model(ids_in)), atol=1e-5, rtol=1e-5)


def test_keras_torch_padding_equals_tensorflows_where_it_clamps():
    """From Keras 3.9 the torch backend's 'same' padding of a convolution is TensorFlow's, for every size, kernel,
    stride and dilation; before, only where the total is not negative."""
    from converter.padding import keras_torch_same_padding, same_padding

    for size in range(1, 12):
        for kernel in range(1, 6):
            for stride in range(1, 5):
                for dilation in range(1, 3):
                    tensorflow = same_padding(size, kernel, stride, dilation)
                    assert keras_torch_same_padding(size, kernel, stride, dilation, False) == tensorflow
                    early = keras_torch_same_padding(size, kernel, stride, dilation, True)
                    assert early == tensorflow or sum(early) < 0


def _own_layer(result, state):
    """A plain torch module built from what the record says of one layer: its module and arguments, a strided
    'same' convolution's pad_before (negative: a crop), a transposed one's crop; as a user writes it."""
    import torch.nn.functional as F
    from torch import nn

    def made(module):
        if module.parts:
            return nn.Sequential(*(made(part) for _, part in module.parts))
        return getattr(nn, module.kind)(**module.arguments)

    module = made(result.module)
    prefix = result.layer.key + "."
    own = {key[len(prefix):]: torch.as_tensor(value) for key, value in state.items() if key.startswith(prefix)}
    if result.module.parts:  # depthwise.weight -> 0.weight: nn.Sequential numbers its parts
        names = [name for name, _ in result.module.parts]
        own = {f"{names.index(key.split('.')[0])}.{key.split('.', 1)[1]}": value for key, value in own.items()}
    module.load_state_dict(own)
    options = result.options

    def forward(x):
        x = x.movedim(-1, 1)  # Keras's channels-last input, channels-first for torch
        if "pad_before" in options:
            x = F.pad(x, [p for pair in reversed(options["pad_before"]) for p in pair])
        y = module(x)
        if "crop_start" in options:
            y = y[(slice(None), slice(None)) + tuple(slice(start, start + size) for start, size in
                                                     zip(options["crop_start"], options["output_size"]))]
        return y.movedim(1, -1)

    return forward


@pytest.mark.parametrize("version", TORCH_VERSIONS)
def test_the_recorded_module_arguments_compute_as_keras_did_on_its_torch_backend(version):
    """A user who writes their own module from the record (`inspect` and `convert --record`: each module's
    arguments, a strided 'same' convolution's pad_before, a transposed one's output crop) gets what Keras computed,
    given the backend (keras_backend="torch"; an .h5 records it). Before, the record gave TensorFlow's numbers
    for every backend: wrong where Keras 3.0 to 3.8 on torch crop (a negative total) and for Keras 3.0 to 3.14's
    'same' transposed convolutions, which pad by torch's symmetric rule (found reading the warnings, which named
    TensorFlow's padding for those files)."""
    path = fixture(f"keras{version}-torch/torch_same.keras")
    with pytest.warns(converter.ConversionWarning, match="pad explicitly"):
        state = converter.state_dict(path)
    matched, differing = _own_layers_against_keras(converter.inspect(path, keras_backend="torch"), version, state)
    assert matched >= 20 and not differing
    # the record for TensorFlow (a .keras taken by default, and every file before): Keras 3.15 pads as it does
    matched, differing = _own_layers_against_keras(converter.inspect(path), version, state)
    assert (len(differing) >= 3) == (version != "3.15"), differing


def _own_layers_against_keras(report, version, state):
    """How many weighted layers of a torch_same fixture, built by hand from `report`, give Keras's outputs, and
    the names of those that do not."""
    io = np.load(fixture(f"keras{version}-torch/io.npz"))
    inputs = [io[f"torch_same_in{i}"] for i in range(sum(key.startswith("torch_same_in") for key in io.files))]
    config = report.conversion.graph.root.config
    input_names = [name for name, _, _ in config["input_layers"]]
    results = {result.layer.key: result for result in report.conversion.layers}
    by_name = {layer.name: layer for layer in report.conversion.graph.walk()}
    matched, differing = 0, []
    for index, (name, _, _) in enumerate(config["output_layers"]):
        if name not in results:  # a pooling: no weights, nothing recorded
            continue
        x = torch.from_numpy(inputs[input_names.index(by_name[name].inbound[0])])
        with torch.no_grad():
            got = _own_layer(results[name], state)(x).numpy()
        want = io[f"torch_same_out{index}"]
        if got.shape == want.shape and np.allclose(got, want, atol=1e-5, rtol=1e-5):
            matched += 1
        else:
            differing.append(name)
    return matched, differing


def test_inspect_and_convert_take_the_backend_on_the_command_line(tmp_path):
    """`--keras-backend torch` on inspect and convert: the record shows the padding that Keras 3.8 on torch used (a
    1x1 convolution of stride 2 over an even size crops the first row), where TensorFlow pads none."""
    from helpers import run_cli

    path = fixture("keras3.8-torch/torch_same.keras")
    shown = run_cli("inspect", path, "--keras-backend", "torch")
    assert shown.returncode == 0, shown.stderr
    assert "conv1d_13: nn.Conv1d(" in shown.stdout and "pad_before=[(-1, 0)]" in shown.stdout
    assert "pad_before=[(-1, 0)]" not in run_cli("inspect", path).stdout
    record = tmp_path / "record.json"
    written = run_cli("convert", path, str(tmp_path / "out.safetensors"), "--keras-backend", "torch", "--record",
                      str(record))
    assert written.returncode == 0, written.stderr
    assert "Keras 3.0 to 3.8 on torch" in written.stderr and "[(-1, 0)] per spatial axis" in record.read_text()


def test_tensors_keras_changed_in_place_on_torch_are_read_changed_after_it(tmp_path):
    """Keras 3's torch backend changes a masked GlobalAveragePooling1D's input (`inputs *= mask`, before 3.15) and a
    masked Softmax's (`inputs += adder`, before 3.13) in place: the calls Keras runs after it read the masked steps
    zeroed (pushed to -1e9). An Embedding read by the average and then a max pooling, a common text model, was
    0.21 off. Built so for a model that ran there (Keras 3.12 wrote fixtures/keras3.12-torch/in_place.keras, with a
    Dropout handing the object on, and scores a convolution reads after the Softmax), module and model.py; the
    same file taken as TensorFlow ran it (whose tensors cannot change) differs."""
    assert sum(not agrees for agrees in _torch_fixture_agrees("in_place", 2, 6, tmp_path)) == 5


def _torch_fixture_agrees(name: str, inputs: int, outputs: int, tmp_path) -> list[bool]:
    """Checks that the module built from fixtures/keras3.12-torch/<name>.keras as Keras on torch ran it, and its
    model.py, give the outputs Keras computed; for each output, whether the file built as TensorFlow runs it does."""
    from graph_fuzz import run_exported

    io = np.load(fixture("keras3.12-torch/io.npz"))
    feed = [io[f"{name}_in{i}"] for i in range(inputs)]
    expected = [io[f"{name}_out{i}"] for i in range(outputs)]
    path = fixture(f"keras3.12-torch/{name}.keras")
    module = converter.to_torch(path, input_layout="keras", keras_backend="torch")
    tensorflow_rule = converter.to_torch(path, input_layout="keras")
    with torch.no_grad():
        built = module(*[torch.from_numpy(array) for array in feed])
        assumed = tensorflow_rule(*[torch.from_numpy(array) for array in feed])
    for got, want in zip(built, expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5, rtol=1e-5)
    for got, want in zip(run_exported(path, feed, tmp_path, "torch"), expected):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    return [np.allclose(got.numpy(), want, atol=1e-3) for got, want in zip(assumed, expected)]


def test_images_padded_to_an_aspect_ratio_on_torch_as_that_keras_did(tmp_path):
    """Keras 3.9 to 3.14's torch backend pads an image to the aspect ratio (Resizing's pad_to_aspect_ratio) with ones
    in its left margin, fill_value in the right (its first width margin lacks `* fill_value`); a margin in height is
    fill_value both sides. Built so for a model that ran there (Keras 3.12 on torch wrote
    fixtures/keras3.12-torch/aspect_pad.keras; the taller image was 0.5 off): module and model.py. Keras 3.0 to 3.8 on
    torch pad onto a larger canvas: refused by name."""
    from helpers import with_keras_version

    assert _torch_fixture_agrees("aspect_pad", 2, 2, tmp_path) == [False, True]
    old = with_keras_version(fixture("keras3.12-torch/aspect_pad.keras"), tmp_path / "old.keras", "3.8.0")
    with pytest.raises(converter.UnsupportedLayerError, match="pad_to_aspect_ratio as Keras 3.8 on torch pads"):
        converter.to_torch(old, keras_backend="torch")


def test_a_tensor_changed_in_place_that_a_view_may_share_is_refused_by_name(tmp_path):
    """Where a tensor Keras's torch backend changed in place may share its storage with another that is read after
    the change (a Flatten made before it, whose Dense runs after: 1.8 off in Keras 3.12 on torch from the same
    model built without the change), which values saw it depends on torch's views: refused by name. A view read
    only before the change is no matter (the Dense run before the average)."""
    keras = pytest.importorskip("keras")
    L = keras.layers
    ids = keras.Input((6,), dtype="int32")
    embedded = L.Embedding(5, 4, mask_zero=True)(ids)
    flat = L.Flatten(name="flat")(embedded)  # a view of the embedding on torch
    before = keras.Model(ids, [L.GlobalAveragePooling1D()(embedded), L.Dense(2)(flat)])
    converter.to_torch(_as_keras_3_12(before, tmp_path / "before"), input_layout="keras", keras_backend="torch")
    # the average deeper in the graph: Keras runs it first, then the Dense reads the view
    model = keras.Model(ids, [L.Dense(2)(L.GlobalAveragePooling1D()(embedded)), L.Dense(2)(flat)])
    path = _as_keras_3_12(model, tmp_path)
    converter.to_torch(path, input_layout="keras")  # TensorFlow's tensors cannot change
    with pytest.raises(converter.UnsupportedLayerError,
                       match=r"changed its input tensor in place.*flat \(Flatten\) read it before"):
        converter.to_torch(path, input_layout="keras", keras_backend="torch")


def _as_keras_3_12(model, folder) -> str:
    """`model` saved into `folder`, its metadata saying Keras 3.12 wrote it (the config is the same)."""
    folder.mkdir(exist_ok=True)
    saved, path = folder / "saved.keras", str(folder / "model.keras")
    model.save(saved)
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            target.writestr(name, json.dumps({**json.loads(data), "keras_version": "3.12.0"}) if name ==
                            "metadata.json" else data)
    return path


def test_an_output_padding_keras_3_13_clamps_on_torch_is_built_clamped(tmp_path):
    """Keras 3.13 on torch clamps a 'same' transposed convolution's torch output padding to the stride less one, as
    3.14 does (3.0 to 3.12 fail): built as 3.0 to 3.12 were, the module refused to run (the fuzzer, seeds 1051078
    and 1051188 with Keras 3.13). Keras 3.13 wrote fixtures/keras3.13-torch/transpose_clamps.keras on torch."""
    from graph_fuzz import run_exported

    io = np.load(fixture("keras3.13-torch/io.npz"))
    inputs = [io[f"transpose_clamps_in{i}"] for i in range(2)]
    expected = [io[f"transpose_clamps_out{i}"] for i in range(3)]
    path = fixture("keras3.13-torch/transpose_clamps.keras")
    module = converter.to_torch(path, input_layout="keras", keras_backend="torch")
    with torch.no_grad():
        outputs = module(*[torch.from_numpy(array) for array in inputs])
    for got, want in zip(outputs, expected, strict=True):
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5, rtol=1e-5)
    for got, want in zip(run_exported(path, inputs, tmp_path, "torch"), expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_a_model_folder_of_an_earlier_keras_3_computes_as_that_keras_did(tmp_path):
    """A model folder (config.json, metadata.json, model.weights.h5: a .keras archive unzipped, as
    save_model(zipped=False) writes it) says which Keras wrote it in metadata.json: Keras 3.3's one_hot
    CategoryEncoding keeps the axis of 1 (fixtures/keras3.3/one_hot.keras). It was read as of an unknown Keras,
    built as the newest computes."""
    import zipfile

    with zipfile.ZipFile(fixture("keras3.3/one_hot.keras")) as archive:
        archive.extractall(tmp_path)
    assert converter.inspect(str(tmp_path)).to_dict()["keras_version"] == "3.3.3"
    io = np.load(fixture("keras3.3/io.npz"))
    inputs = [io[f"one_hot_in{i}"] for i in range(2)]
    with torch.no_grad():
        outputs = converter.to_torch(str(tmp_path), input_layout="keras")(*map(torch.from_numpy, inputs))
    for index, got in enumerate(outputs):
        np.testing.assert_allclose(got.numpy(), io[f"one_hot_out{index}"], atol=1e-6)


def test_weights_of_an_earlier_keras_3_take_the_version_of_their_architecture(tmp_path):
    """A .weights.h5 records no Keras version; the architecture given with it does (a .keras archive's
    metadata.json): the module computes as that Keras did (Keras 3.3's one_hot CategoryEncoding keeps the axis
    of 1), where it was built as the newest Keras computes."""
    import zipfile

    with zipfile.ZipFile(fixture("keras3.3/one_hot.keras")) as archive:
        (tmp_path / "w.weights.h5").write_bytes(archive.read("model.weights.h5"))
    io = np.load(fixture("keras3.3/io.npz"))
    inputs = [io[f"one_hot_in{i}"] for i in range(2)]
    module = converter.to_torch(str(tmp_path / "w.weights.h5"), architecture=fixture("keras3.3/one_hot.keras"),
                                input_layout="keras")
    with torch.no_grad():
        outputs = module(*map(torch.from_numpy, inputs))
    for index, got in enumerate(outputs):
        np.testing.assert_allclose(got.numpy(), io[f"one_hot_out{index}"], atol=1e-6)
