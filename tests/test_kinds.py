"""Driven by the registries: every kind, writer and reader has a case, and every kind's case matches Keras.

A kind registered without a row in tests/kind_cases.py fails `test_every_kind_has_a_case`;
each row is built in real Keras (3, and tf.keras 2 where it has the kind), saved, converted
by `to_torch` and compared in both input layouts with Keras's outputs.
"""
from __future__ import annotations

import numpy as np
import pytest

import converter
from build_harness import check
from converter.kinds import distinct
from helpers import ROOT, fixture
from kind_cases import CASES

RUNS = [(case, writer) for case in CASES for writer in ("keras3", "keras2")
        if (writer == "keras3" and case.keras3) or (writer == "keras2" and case.keras2)]


#: kinds Keras runs on NVIDIA GPUs only, so that no row of kind_cases can run them: their own test compares them
#: with the layers that compute the same, given Keras's own conversion of their weights
GPU_ONLY = {kind: "tests/layers/test_cudnn.py" for kind in ("keras.layers.CuDNNLSTM", "keras.layers.CuDNNGRU")}
#: kinds built from what the user gives, which a row cannot pass: their own test compares them with Keras
GIVEN = {"keras.layers.Lambda": "tests/test_lambdas.py"}
#: kinds of a package no TensorFlow here runs: their own test compares files it wrote with the outputs it computed
FIXTURED = {"tensorflow_addons.layers.InstanceNormalization": "tests/test_tf_addons.py"}


def test_every_kind_has_a_case():
    covered = {case.kind for case in CASES}
    for kind, test in GPU_ONLY.items():
        assert f"layers.{kind.rsplit('.', 1)[1]}(" in (ROOT / test).read_text(), (kind, test)
    covered |= set(GPU_ONLY)
    for kind, test in GIVEN.items():
        assert "layers.Lambda(" in (ROOT / test).read_text(), (kind, test)
    covered |= set(GIVEN)
    for kind, test in FIXTURED.items():
        assert f"Addons>{kind.rsplit('.', 1)[1]}" in (ROOT / test).read_text(), (kind, test)
    covered |= set(FIXTURED)
    missing = [kind.name for kind in distinct() if kind.name not in covered]
    assert not missing, f"kinds without a case in tests/kind_cases.py: {missing}"
    unknown = sorted(covered - {kind.name for kind in distinct()})
    assert not unknown, f"cases of kinds nobody registered: {unknown}"


def every_kind(layers: list) -> set[str]:
    """The kinds of layers and of nested models (a TimeDistributed of a model is one)."""
    return {layer.kind for layer in layers} | {kind for layer in layers for kind in every_kind(layer.children or [])}


@pytest.mark.parametrize("case, writer", RUNS, ids=[f"{case.name}-{writer}" for case, writer in RUNS])
def test_kind_matches_keras(tmp_path, case, writer):
    rng = np.random.default_rng(3)
    if case.vocabulary:
        inputs = [rng.integers(0, case.vocabulary, (3,) + shape).astype("int32") for shape in case.inputs]
    else:
        inputs = [(case.scale * rng.normal(0, 1, (3,) + shape)).astype("float32") for shape in case.inputs]
    path = check(tmp_path, writer, case.build, inputs)
    with converter.read(path) as graph:
        kinds = every_kind(graph.layers)
    assert case.kind in kinds, f"the model of case {case.name} holds {sorted(kinds)}, not {case.kind}"


READER_SAMPLES = {
    "keras-archive": "keras3/mlp.keras", "keras-weights": "keras3/mlp.weights.h5", "legacy-h5": "keras2/mlp.h5",
    "legacy-h5-weights": "keras2/mlp_weights.h5",
}


#: formats of models that are not Keras graphs: tested against their own libraries' models
OWN_TESTS = {"hf-tf": "tests/test_hf_tf.py", "hf-tf-sharded": "tests/test_hf_tf.py",
             "live-subclassed": "tests/test_subclassed.py"}


@pytest.mark.parametrize("format_name", sorted(set(converter.FORMATS) - set(OWN_TESTS)))
def test_every_reader_gives_the_same_weights(tmp_path, format_name):
    """Each format the readers know, from a real file (or live model), converts to the fixture's weights."""
    reference = converter.state_dict(fixture("keras3/mlp.keras"))
    architecture = None  # weights-only formats whose layer structure comes from a model file
    if format_name == "live":
        import keras

        source = keras.saving.load_model(fixture("keras3/mlp.keras"), compile=False)
    elif format_name == "keras-weights-sharded":
        import keras

        model = keras.saving.load_model(fixture("keras3/mlp.keras"), compile=False)
        source = str(tmp_path / "mlp.weights.json")
        model.save_weights(source, max_shard_size=0.1)
    elif format_name == "tfjs-layers":
        import tf_keras
        from test_tfjs import _write

        source = str(_write(tf_keras.models.load_model(fixture("keras2/mlp.h5"), compile=False),
                            tmp_path / "web", shards=2)[0])
    elif format_name in ("tf-checkpoint", "tf-saved-model"):
        import tf_keras

        model = tf_keras.models.load_model(fixture("keras2/mlp.h5"), compile=False)
        if format_name == "tf-saved-model":
            source = str(tmp_path / "saved")
            model.save(source, save_format="tf")
        else:
            source = str(tmp_path / "ckpt")
            model.save_weights(source)
            architecture = fixture("keras2/mlp.h5")
    else:
        source = fixture(READER_SAMPLES[format_name])
    with converter.read(source, architecture=architecture) as graph:
        assert graph.format == format_name
    weights = converter.state_dict(source, architecture=architecture)
    assert set(weights) == set(reference)
    for key, value in reference.items():
        np.testing.assert_array_equal(weights[key], value)


@pytest.mark.parametrize("suffix", sorted(converter.WRITERS))
def test_every_writer_round_trips_exactly(tmp_path, suffix):
    """Each output format holds exactly the converted tensors, read back with its own library."""
    reference = converter.state_dict(fixture("keras3/dtypes.keras"))
    destination = str(tmp_path / f"weights{suffix}")
    converter.convert(fixture("keras3/dtypes.keras"), destination)
    read_back = read_output(destination)
    assert set(read_back) == set(reference)
    for key, value in reference.items():
        assert read_back[key].tobytes() == np.ascontiguousarray(value).tobytes(), key


def read_output(path: str) -> dict[str, np.ndarray]:
    """An output file's tensors as numpy arrays (bfloat16 as its uint16 bits)."""
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        return {key: _numpy(value) for key, value in load_file(path).items()}
    if path.endswith((".pt", ".pth")):
        import torch

        return {key: _numpy(value) for key, value in torch.load(path, weights_only=True).items()}
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files if not key.startswith("__")}
    import h5py

    with h5py.File(path, "r") as h5:
        return {key: h5[key][()] for key in h5}


def _numpy(value) -> np.ndarray:
    import torch

    return value.view(torch.uint16).numpy() if value.dtype == torch.bfloat16 else value.numpy()


def test_an_operation_is_never_taken_for_the_layer_of_its_name(tmp_path):
    """Keras 3 records `x * 2.0` as the operation keras.ops.numpy.Multiply, not the layer Multiply."""
    import keras

    inputs = keras.Input((4,))
    dense = keras.layers.Dense(3, name="dense")(inputs)
    path = str(tmp_path / "op.keras")
    keras.Model(inputs, dense * 2.0).save(path)
    with converter.read(path) as graph:
        assert "keras.ops.numpy.Multiply" in {layer.kind for layer in graph.walk()}
        assert "keras.layers.Multiply" not in {layer.kind for layer in graph.walk()}
    assert set(converter.state_dict(path)) == {"dense.weight", "dense.bias"}
    if "keras.ops.numpy.Multiply" not in converter.KINDS:  # until the operation is built: refused by name
        with pytest.raises(converter.UnsupportedLayerError, match=r"keras\.ops\.numpy\.Multiply"):
            converter.to_torch(path)


def test_the_index_of_kind_modules_is_current():
    """The registry imports a kind's module on first lookup, through the generated index."""
    from pathlib import Path

    from converter.kinds import registry

    index = Path(registry.__file__).with_name("index.py")
    assert index.read_text() == registry.index_source(), "regenerate it with: python -m converter.kinds --index"


def test_a_conversion_imports_only_the_kinds_its_model_uses(tmp_path):
    """Looking up a kind imports its module alone; listing the registry imports every one."""
    import subprocess
    import sys

    from helpers import ROOT

    code = ("import sys, converter; converter.convert(sys.argv[1], sys.argv[2]); "
            "print(sorted(m.split('.')[-1] for m in sys.modules if m.startswith('converter.kinds.'))); "
            "print(len(converter.KINDS) > 200, 'converter.kinds.multi_head_attention' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, fixture("keras3/mlp.keras"), str(tmp_path / "out.npz")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    imported, listed = result.stdout.splitlines()
    assert "'dense'" in imported and "'multi_head_attention'" not in imported and "'lstm'" not in imported
    assert listed == "True True"
